import { chmodSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import type { Hono } from "hono";
import { createApp, unconfiguredApp } from "../../app.ts";
import { readConfig } from "../../core/config.ts";
import type { Services } from "../../core/services.ts";
import type { AppEnv } from "../../http/context.ts";
import { ActorHost } from "./actors.ts";
import { type DenoActors, denoServices } from "./services.ts";
import { applyMigrations } from "./sql-database.ts";
import { openPrivateSqlite, openSqlite, privateDir } from "./sqlite.ts";
import { waitUntilTracker } from "./wait-until.ts";
import { type ResolveAddresses, webhookEgress } from "./webhook-egress.ts";
import { readWranglerConfig } from "./wrangler-config.ts";

/**
 * Holds `<dir>/instance.lock` exclusively (a SQLite lock, released when the process ends): the
 * actors live in this process, so a second process on the same data would run a second copy of
 * each, and their exact counts and idempotency would no longer hold.
 */
export function lockDataDir(dir: string): DatabaseSync {
  privateDir(dir);
  const lock = openPrivateSqlite(join(dir, "instance.lock"));
  try {
    lock.exec("PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;");
  } catch {
    lock.close();
    throw new Error(
      `${dir} is in use by another process: one proxy process per data directory (see README, "Run on Deno")`,
    );
  }
  return lock;
}

/**
 * Directories 0700 and files 0600 under `dir`, for data an earlier version wrote 0755 and 0644:
 * the databases hold webhook secrets in plain text.
 */
export function makeDataDirPrivate(dir: string): void {
  chmodSync(dir, 0o700);
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    // A link the operator placed points at what is theirs to protect, not ours to change.
    if (entry.isSymbolicLink()) continue;
    chmodSync(join(entry.parentPath, entry.name), entry.isDirectory() ? 0o700 : 0o600);
  }
}

/** The proxy's database, `<dir>/d1.sqlite`, migrated to the latest schema (wrangler.toml's). */
export function openDatabase(
  dir: string,
  migrationsDir = readWranglerConfig().migrationsDir,
): { db: DatabaseSync; applied: string[] } {
  const db = openSqlite(join(dir, "d1.sqlite"));
  return { db, applied: applyMigrations(db, migrationsDir) };
}

export interface DenoRuntime {
  app: Hono<AppEnv>;
  /** Undefined when the settings do not validate (the app then answers 503 and says why). */
  services: Services | undefined;
  /** The services' actors, undefined with them. */
  actors: DenoActors | undefined;
  host: ActorHost;
  waitUntil(promise: Promise<unknown>): void;
  appliedMigrations: string[];
  rearmedAlarms: number;
  /** Waits for work after answers (at most `timeoutMs`), then closes storage and the lock. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * The proxy on Deno over files under `dataDir`: its database and finished jobs as SQLite files,
 * its actors hosted in this process, the rate limits, migrations and pages wrangler.toml declares.
 * `vars` are the settings and secrets, as `.dev.vars` names them.
 */
export function openRuntime(options: {
  dataDir: string;
  vars: Record<string, string>;
  /** How webhook hosts are resolved (DNS unless a test says otherwise). */
  resolveWebhookHost?: ResolveAddresses;
  /** How long an actor stays in memory without a call (30 s unless a test says otherwise). */
  actorIdleMs?: number;
}): DenoRuntime {
  const wrangler = readWranglerConfig();
  const lock = lockDataDir(options.dataDir);
  makeDataDirPrivate(options.dataDir);
  const tracker = waitUntilTracker();
  const { db, applied } = openDatabase(options.dataDir, wrangler.migrationsDir);
  const cacheDb = openSqlite(join(options.dataDir, "kv.sqlite"));
  const host = new ActorHost({
    dir: join(options.dataDir, "objects"),
    waitUntil: tracker.waitUntil,
    idleMs: options.actorIdleMs,
  });
  const config = readConfig(options.vars);
  const built = config.ok
    ? denoServices(config.config, {
        db,
        cacheDb,
        host,
        egress: webhookEgress(options.resolveWebhookHost),
        wrangler,
      })
    : undefined;
  const rearmedAlarms = host.rearmAlarms();
  return {
    app: built ? createApp(built.services) : unconfiguredApp(config.ok ? "" : config.problem),
    services: built?.services,
    actors: built?.actors,
    host,
    waitUntil: tracker.waitUntil,
    appliedMigrations: applied,
    rearmedAlarms,
    async close(timeoutMs = 30_000) {
      await tracker.drain(timeoutMs);
      host.close();
      built?.close();
      cacheDb.close();
      db.close();
      lock.close();
    },
  };
}
