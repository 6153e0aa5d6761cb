import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_ADMIN_TOKEN, TEST_SIGNING_KEYS, TEST_WAVELINE_KEY } from "./test/constants.ts";

const migrations = await readD1Migrations("./migrations");

export default defineConfig({
  test: {
    // The Worker logs a JSON line per request: show them only for tests that fail.
    silent: "passed-only",
    projects: [
      {
        // Integration tests inside workerd, the runtime the proxy runs on in production.
        plugins: [
          cloudflareTest(({ inject }) => ({
            main: "./src/platform/cloudflare/worker.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                // As in wrangler.toml: a developer's .dev.vars (which `npm run dev` writes, with the
                // demo on) must not change what the tests see.
                DEMO_ENABLED: "false",
                CONSOLE_ENABLED: "false",
                WAVELINE_API_URL: inject("wavelineBaseUrl"),
                WAVELINE_API_KEY: TEST_WAVELINE_KEY,
                ADMIN_TOKEN: TEST_ADMIN_TOKEN,
                UPSTREAM_TIMEOUT_MS: "1500",
                // Short, so that tests of the poll-storm cache run in seconds.
                PENDING_CACHE_TTL_MS: "500",
                TOKEN_SIGNING_KEYS: JSON.stringify(TEST_SIGNING_KEYS),
                TEST_MIGRATIONS: migrations,
                // Unlimited by default; rate-limit tests give their tenants limits of their own.
                READ_RATE_LIMIT_PER_MIN: "0",
                CREATE_RATE_LIMIT_PER_MIN: "0",
                // Test receivers listen on 127.0.0.1; retries come in fractions of a second.
                WEBHOOKS_ALLOW_LOCAL_URLS: "true",
                WEBHOOK_RETRY_DELAYS_S: "0.3,0.3,0.3",
                // Metrics flush as soon as the request is done, so tests that wait for a request's
                // background work see its counts (tests of batching pass a longer window).
                METRICS_FLUSH_MS: "0",
              },
              ratelimits: {
                // Suites send many bad credentials on purpose; one test swaps in the strict one.
                AUTH_FAILURE_LIMITER: {
                  namespace_id: "1001",
                  simple: { limit: 1_000_000, period: 60 },
                },
                TEST_STRICT_AUTH_LIMITER: {
                  namespace_id: "1002",
                  simple: { limit: 3, period: 60 },
                },
              },
            },
          })),
        ],
        test: {
          name: "workers",
          // Some tests send thousands of requests through workerd on a 2-core machine.
          testTimeout: 20_000,
          include: ["test/integration/**/*.test.ts"],
          setupFiles: ["./test/integration/setup.ts"],
          globalSetup: ["./test/global-setup.ts"],
        },
      },
      {
        // The core's pure parts, tested beside their code: no runtime, clocks injected.
        test: {
          name: "unit",
          environment: "node",
          include: ["src/**/*.test.ts", "test/conformance/**/*.test.ts"],
        },
      },
      {
        // Real processes over real HTTP: the fake Waveline itself and `wrangler dev` end to end.
        test: {
          name: "node",
          environment: "node",
          include: [
            "dev/**/*.test.ts",
            "test/e2e/**/*.test.ts",
            "test/client/**/*.test.ts",
            "test/browser/**/*.test.ts",
          ],
          testTimeout: 60_000,
          // Hooks start whole stacks (wrangler, Deno, Chromium): slow on two busy cores.
          hookTimeout: 120_000,
        },
      },
      {
        // The same end-to-end assertions against the Deno server (src/platform/deno), plus the
        // tests of its adapters, which run under Deno itself.
        test: {
          name: "deno",
          environment: "node",
          env: { E2E_RUNTIME: "deno" },
          include: [
            "test/e2e/**/*.test.ts",
            "test/client/client.stack.test.ts",
            "test/deno/**/*.test.ts",
          ],
          testTimeout: 60_000,
          // Hooks start whole stacks (wrangler, Deno, Chromium): slow on two busy cores.
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
