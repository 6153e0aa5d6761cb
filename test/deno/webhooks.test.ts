import { expect, it } from "vitest";
import { denoTest } from "./deno-test";

/** Deno's resolver and sockets: run webhooks.deno.ts there. */
it("webhook delivery on Deno reaches only public addresses it checked (webhooks.deno.ts)", async () => {
  // The test CA that signed fixtures/localhost.pem, trusted by this process only.
  const output = await denoTest("test/deno/webhooks.deno.ts", ["--allow-net"], {
    DENO_CERT: "test/deno/fixtures/test-ca.pem",
  });
  expect(output).toMatch(/ok \| \d+ passed \| 0 failed/);
});
