import { chmodSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { directoryAssets } from "./assets.ts";
import { applyMigrations, sqliteD1 } from "./d1.ts";
import { DurableObjectHost } from "./durable-objects.ts";
import { sqliteKv } from "./kv.ts";
import { fixedWindowLimiter } from "./rate-limit.ts";
import { openPrivateSqlite, openSqlite, privateDir } from "./sqlite.ts";
import { activeSpanTraces } from "./traces.ts";
import { waitUntilTracker } from "./wait-until.ts";
import { type ResolveAddresses, webhookEgress } from "./webhook-egress.ts";
import type { ExecutionContext, WorkerModule } from "./worker.ts";

const REPO = new URL("../../../", import.meta.url).pathname;
export const MIGRATIONS_DIR = join(REPO, "migrations");
const PUBLIC_DIR = join(REPO, "public");

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

/** The D1 database under `<dir>/d1.sqlite`, migrated to the latest schema. */
export function openDatabase(dir: string): { db: DatabaseSync; applied: string[] } {
  const db = openSqlite(join(dir, "d1.sqlite"));
  return { db, applied: applyMigrations(db, MIGRATIONS_DIR) };
}

/** The failed-auth limit as wrangler.toml declares it, so both runtimes count alike. */
export function authFailureLimit(): { limit: number; period: number } {
  const toml = readFileSync(join(REPO, "wrangler.toml"), "utf8");
  const block = toml
    .split("[[ratelimits]]")
    .find((part) => part.includes('"AUTH_FAILURE_LIMITER"'));
  const match = block?.match(/simple\s*=\s*\{\s*limit\s*=\s*(\d+)\s*,\s*period\s*=\s*(\d+)\s*\}/);
  if (!match) throw new Error("wrangler.toml: no simple limit for AUTH_FAILURE_LIMITER");
  return { limit: Number(match[1]), period: Number(match[2]) };
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
 * The Worker's bindings on Deno, over files under `dataDir`: D1 and KV as SQLite databases,
 * Durable Objects hosted in this process, the rate-limiting binding in memory, `ASSETS` from
 * `public/`. `vars` are the Worker's vars and secrets, as `.dev.vars` names them.
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
  const lock = lockDataDir(options.dataDir);
  makeDataDirPrivate(options.dataDir);
  const tracker = waitUntilTracker();
  const { db, applied } = openDatabase(options.dataDir);
  const kvDb = openSqlite(join(options.dataDir, "kv.sqlite"));
  const kv = sqliteKv(kvDb);
  const env: Record<string, unknown> = { ...options.vars };
  const host = new DurableObjectHost({
    dir: join(options.dataDir, "objects"),
    env,
    classes: {
      TenantRateLimiter: worker.TenantRateLimiter,
      CreationLedger: worker.CreationLedger,
      JobWatcher: worker.JobWatcher,
      WebhookOutbox: worker.WebhookOutbox,
      JobSettler: worker.JobSettler,
      TenantMetrics: worker.TenantMetrics,
    },
    waitUntil: tracker.waitUntil,
  });
  Object.assign(env, {
    DB: sqliteD1(db),
    JOB_CACHE: kv,
    RATE_LIMITER: host.namespace("TenantRateLimiter"),
    CREATION_LEDGER: host.namespace("CreationLedger"),
    JOB_WATCHER: host.namespace("JobWatcher"),
    WEBHOOK_OUTBOX: host.namespace("WebhookOutbox"),
    JOB_SETTLER: host.namespace("JobSettler"),
    TENANT_METRICS: host.namespace("TenantMetrics"),
    AUTH_FAILURE_LIMITER: fixedWindowLimiter(authFailureLimit()),
    ASSETS: directoryAssets(PUBLIC_DIR),
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
