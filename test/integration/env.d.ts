// Bindings only the test pool adds (see vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    TEST_STRICT_AUTH_LIMITER: RateLimit;
  }
}
