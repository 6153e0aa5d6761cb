import { expect, it } from "vitest";
import { denoTest } from "./deno-test";

/** Memory needs Deno's own heap and a GC on demand: run memory.deno.ts there. */
it("the Deno host stays flat with many large finished jobs (memory.deno.ts)", async () => {
  const output = await denoTest("test/deno/memory.deno.ts", [
    "--allow-net=127.0.0.1",
    "--v8-flags=--expose-gc",
  ]);
  expect(output).toMatch(/ok \| \d+ passed \| 0 failed/);
}, 180_000);
