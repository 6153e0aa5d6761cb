import { chmodSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { directoryAssets } from "./assets.ts";
import { applyMigrations, sqliteD1 } from "./d1.ts";
import { type DurableObjectClass, DurableObjectHost } from "./durable-objects.ts";
import { sqliteKv } from "./kv.ts";
import { fixedWindowLimiter } from "./rate-limit.ts";
import { openPrivateSqlite, openSqlite, privateDir } from "./sqlite.ts";
import { activeSpanTraces } from "./traces.ts";
import { waitUntilTracker } from "./wait-until.ts";
import { type ResolveAddresses, webhookEgress } from "./webhook-egress.ts";
import type { ExecutionContext, WorkerModule } from "./worker.ts";
import { readWranglerConfig, type WranglerConfig } from "./wrangler-config.ts";

/**
 * Holds `<dir>/instance.lock` exclusively (a SQLite lock, released when the process ends): the
 * Durable Objects live in this process, so a second process on the same data would run a second
 * copy of each, and their exact counts and idempotency would no longer hold.
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

/**
 * The D1 database under `<dir>/d1.sqlite`, migrated to the latest schema (from wrangler.toml's
 * `migrations_dir`).
 */
export function openDatabase(
  dir: string,
  migrationsDir = readWranglerConfig().d1.migrationsDir,
): { db: DatabaseSync; applied: string[] } {
  const db = openSqlite(join(dir, "d1.sqlite"));
  return { db, applied: applyMigrations(db, migrationsDir) };
}

/**
 * The Durable Object classes wrangler.toml binds, each looked up by its `class_name` among the
 * Worker entry's exports; a class it does not export stops the runtime before it opens anything.
 */
export function durableObjectClasses(
  worker: WorkerModule,
  bindings: WranglerConfig["durableObjects"],
): Record<string, DurableObjectClass> {
  const classes: Record<string, DurableObjectClass> = {};
  for (const { binding, className } of bindings) {
    const Class = worker[className];
    if (typeof Class !== "function") {
      throw new Error(
        `wrangler.toml binds ${binding} to the Durable Object class ${className}, which the Worker entry does not export`,
      );
    }
    classes[className] = Class as DurableObjectClass;
  }
  return classes;
}

export interface DenoRuntime {
  env: Record<string, unknown>;
  ctx: ExecutionContext;
  appliedMigrations: string[];
  rearmedAlarms: number;
  /** Waits for `waitUntil` work (at most `timeoutMs`), then closes storage and the lock. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * The Worker's bindings on Deno, as wrangler.toml declares them (its Durable Objects, rate limits,
 * D1 database, KV namespace and assets), over files under `dataDir`: D1 and KV as SQLite
 * databases, Durable Objects hosted in this process, rate limits in memory, assets from their
 * directory. `vars` are the Worker's vars and secrets, as `.dev.vars` names them.
 */
export function openRuntime(
  worker: WorkerModule,
  options: {
    dataDir: string;
    vars: Record<string, string>;
    /** How webhook hosts are resolved (DNS unless a test says otherwise). */
    resolveWebhookHost?: ResolveAddresses;
  },
): DenoRuntime {
  const config = readWranglerConfig();
  const classes = durableObjectClasses(worker, config.durableObjects);
  const lock = lockDataDir(options.dataDir);
  makeDataDirPrivate(options.dataDir);
  const tracker = waitUntilTracker();
  const { db, applied } = openDatabase(options.dataDir, config.d1.migrationsDir);
  const kvDb = openSqlite(join(options.dataDir, "kv.sqlite"));
  const kv = sqliteKv(kvDb);
  const env: Record<string, unknown> = { ...options.vars };
  const host = new DurableObjectHost({
    dir: join(options.dataDir, "objects"),
    env,
    classes,
    waitUntil: tracker.waitUntil,
  });
  env[config.d1.binding] = sqliteD1(db);
  env[config.kv.binding] = kv;
  for (const { binding, className } of config.durableObjects) {
    env[binding] = host.namespace(className);
  }
  for (const { binding, limit, period } of config.rateLimits) {
    env[binding] = fixedWindowLimiter({ limit, period });
  }
  env[config.assets.binding] = directoryAssets(config.assets.directory);
  // Deno's own bindings, which wrangler.toml has no counterpart of.
  Object.assign(env, {
    WEBHOOK_EGRESS: webhookEgress(options.resolveWebhookHost),
    TRACES: activeSpanTraces(),
  });
  const rearmedAlarms = host.rearmAlarms();
  return {
    env,
    ctx: { waitUntil: tracker.waitUntil, passThroughOnException() {}, props: {} },
    appliedMigrations: applied,
    rearmedAlarms,
    async close(timeoutMs = 30_000) {
      await tracker.drain(timeoutMs);
      host.close();
      kv.close();
      kvDb.close();
      db.close();
      lock.close();
    },
  };
}
