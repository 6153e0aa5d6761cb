import { expect, it } from "vitest";
import { denoTest } from "./deno-test";

/**
 * The conformance suites (test/conformance/) against the Deno runtime's ports and actors, under
 * Deno (its watchers ask a Waveline the file serves on 127.0.0.1).
 */
it("the Deno runtime passes the conformance suites under Deno (conformance.deno.ts)", async () => {
  const output = await denoTest("test/deno/conformance.deno.ts", ["--allow-net=127.0.0.1"]);
  expect(output).toMatch(/ok \| \d+ passed \| 0 failed/);
});
