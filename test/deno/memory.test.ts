import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { denoBinary } from "../../dev/deno";

/** Memory needs Deno's own heap and a GC on demand: run memory.deno.ts there. */
it("the Deno host stays flat with many large finished jobs (memory.deno.ts)", async () => {
  const { stdout } = await promisify(execFile)(
    denoBinary(),
    [
      "test",
      "--cached-only",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-net=127.0.0.1",
      "--v8-flags=--expose-gc",
      "test/deno/memory.deno.ts",
    ],
    { env: { ...process.env, NO_COLOR: "1" }, maxBuffer: 16 * 1024 * 1024 },
  ).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`deno test failed:\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
  });
  expect(stdout).toMatch(/ok \| \d+ passed \| 0 failed/);
}, 180_000);
