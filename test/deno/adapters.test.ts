import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { denoBinary } from "../../dev/deno";

/** The adapters' own tests run under Deno, the runtime the adapters are written for. */
it("the Deno adapters pass their tests under Deno (adapters.deno.ts)", async () => {
  const { stdout } = await promisify(execFile)(
    denoBinary(),
    [
      "test",
      "--cached-only",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "test/deno/adapters.deno.ts",
    ],
    { env: { ...process.env, NO_COLOR: "1" } },
  ).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`deno test failed:\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
  });
  expect(stdout).toMatch(/ok \| \d+ passed \| 0 failed/);
});
