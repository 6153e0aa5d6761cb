/**
 * The far-storage mode of `npm run bench` (bench/lib/far-storage.ts starts it): the proxy in
 * workerd with the real D1, KV, Cache API and Durable Objects, as test/integration runs it, but
 * with production's rate limits (wrangler.toml). Its own config, so `npm test` never runs it.
 */
import { fileURLToPath } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_ADMIN_TOKEN, TEST_SIGNING_KEYS, TEST_WAVELINE_KEY } from "../../test/constants.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const migrations = await readD1Migrations(`${root}/migrations`);

export default defineConfig({
  root,
  plugins: [
    cloudflareTest(({ inject }) => ({
      main: "./src/platform/cloudflare/worker.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          DEMO_ENABLED: "false",
          WAVELINE_API_URL: inject("wavelineBaseUrl"),
          WAVELINE_API_KEY: TEST_WAVELINE_KEY,
          ADMIN_TOKEN: TEST_ADMIN_TOKEN,
          TOKEN_SIGNING_KEYS: JSON.stringify(TEST_SIGNING_KEYS),
          TEST_MIGRATIONS: migrations,
          // Each request waits for its background work: metrics flush at once, after the answer
          // and uncounted here (production gathers an isolate's counts for METRICS_FLUSH_MS, then
          // makes one TenantMetrics call per tenant: not a cost per request).
          METRICS_FLUSH_MS: "0",
        },
      },
    })),
  ],
  test: {
    name: "far-storage",
    silent: "passed-only",
    include: ["bench/far-storage/workerd/**/*.bench-run.ts"],
    setupFiles: ["./test/integration/setup.ts"],
    // The fake Waveline of the tests, and the collector of the figures.
    globalSetup: ["./test/global-setup.ts", "./bench/far-storage/collector.ts"],
    testTimeout: 300_000,
  },
});
