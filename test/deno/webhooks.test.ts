import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { denoBinary } from "../../dev/deno";

/** Deno's resolver and sockets: run webhooks.deno.ts there. */
it("webhook delivery on Deno reaches only public addresses it checked (webhooks.deno.ts)", async () => {
  const { stdout } = await promisify(execFile)(
    denoBinary(),
    [
      "test",
      "--cached-only",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-net",
      "test/deno/webhooks.deno.ts",
    ],
    {
      // The test CA that signed fixtures/localhost.pem, trusted by this process only.
      env: { ...process.env, NO_COLOR: "1", DENO_CERT: "test/deno/fixtures/test-ca.pem" },
      maxBuffer: 16 * 1024 * 1024,
    },
  ).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`deno test failed:\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
  });
  expect(stdout).toMatch(/ok \| \d+ passed \| 0 failed/);
});
