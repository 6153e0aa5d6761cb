import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, vi } from "vitest";

// Storage is per test file: each file starts from an empty, migrated database.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// The Worker logs a line per request; shipping thousands of them out of workerd slows the suite
// down. Tests that read the log spy on console.log themselves.
beforeEach(() => {
  vi.spyOn(console, "log").mockImplementation(() => {});
});
