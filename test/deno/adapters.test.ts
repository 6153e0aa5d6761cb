import { expect, it } from "vitest";
import { denoTest } from "./deno-test";

/** The adapters' own tests run under Deno, the runtime the adapters are written for. */
it("the Deno adapters pass their tests under Deno (adapters.deno.ts)", async () => {
  const output = await denoTest("test/deno/adapters.deno.ts", []);
  expect(output).toMatch(/ok \| \d+ passed \| 0 failed/);
});
