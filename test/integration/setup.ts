import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Storage is per test file: each file starts from an empty, migrated database.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
