import { expect, it } from "vitest";
import { denoTest } from "./deno-test";

/** The conformance suites (test/conformance/) against the Deno adapters, under Deno. */
it("the Deno adapters pass the conformance suites under Deno (conformance.deno.ts)", async () => {
  const output = await denoTest("test/deno/conformance.deno.ts", []);
  expect(output).toMatch(/ok \| \d+ passed \| 0 failed/);
});
