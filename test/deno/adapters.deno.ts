/**
 * The Deno runtime's own parts: its SQL database, its finished-jobs tier, the actor host, the
 * data directory and wrangler.toml. Runs under Deno (`deno test`, spawned by adapters.test.ts),
 * the runtime they are written for.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { toCachedJob } from "../../src/core/cache/entry.ts";
import { StorageUnavailableError } from "../../src/core/errors.ts";
import { ActorHost, type ActorParts } from "../../src/platform/deno/actors.ts";
import { DISK_MAX_ENTRY_BYTES, sqliteTier } from "../../src/platform/deno/cache-tier.ts";
import { fixedWindowLimiter } from "../../src/platform/deno/rate-limit.ts";
import { lockDataDir, openRuntime } from "../../src/platform/deno/runtime.ts";
import { applyMigrations, sqliteDatabase } from "../../src/platform/deno/sql-database.ts";
import { openSqlite } from "../../src/platform/deno/sqlite.ts";
import { waitUntilTracker } from "../../src/platform/deno/wait-until.ts";
import {
  parseWranglerConfig,
  readWranglerConfig,
} from "../../src/platform/deno/wrangler-config.ts";
import { TEST_ADMIN_TOKEN } from "../constants.ts";

const tempDir = () => mkdtempSync(join(tmpdir(), "waveline-deno-test-"));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("SQL database: a batch is all or nothing", async () => {
  const raw = new DatabaseSync(":memory:");
  raw.exec("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL)");
  const db = sqliteDatabase(raw);
  await db.prepare("INSERT INTO t VALUES (?, ?)").bind("kept", 1).run();

  const failing = db.batch([
    db.prepare("INSERT INTO t VALUES (?, ?)").bind("first", 2),
    db.prepare("UPDATE t SET n = n + 1 WHERE id = ?").bind("kept"),
    db.prepare("INSERT INTO t VALUES (?, ?)").bind("kept", 3),
  ]);

  await assert.rejects(failing, /UNIQUE/);
  const { results } = await db.prepare("SELECT id, n FROM t ORDER BY id").all();
  assert.deepEqual(results, [{ id: "kept", n: 1 }]);
});

Deno.test("SQL database: results, meta and binding rules as D1 has them", async () => {
  const raw = new DatabaseSync(":memory:");
  raw.exec("CREATE TABLE t (id TEXT PRIMARY KEY, flag INTEGER)");
  const db = sqliteDatabase(raw);
  const inserted = await db
    .prepare("INSERT INTO t VALUES (?, ?) ON CONFLICT (id) DO NOTHING RETURNING id")
    .bind("a", true)
    .all();
  assert.deepEqual(inserted.results, [{ id: "a" }]);
  assert.equal(inserted.meta.changes, 1);
  assert.equal(Object.getPrototypeOf(inserted.results[0]), Object.prototype);
  const updated = await db.prepare("UPDATE t SET flag = ? WHERE id = ?").bind(false, "a").run();
  assert.equal(updated.meta.changes, 1);
  assert.deepEqual(await db.prepare("SELECT flag FROM t").first(), { flag: 0 });
  assert.equal(await db.prepare("SELECT flag FROM t WHERE id = ?").bind("none").first(), null);
  assert.throws(() => db.prepare("SELECT ?").bind(undefined), /D1_TYPE_ERROR/);
});

Deno.test("SQL database: migrations apply once, in order, recorded as wrangler records them", () => {
  const db = new DatabaseSync(":memory:");
  const migrations = readWranglerConfig().migrationsDir;
  const first = applyMigrations(db, migrations);
  assert.ok(first.length >= 4);
  assert.deepEqual(first, [...first].sort());
  assert.deepEqual(applyMigrations(db, migrations), []);
  const recorded = db.prepare("SELECT name FROM d1_migrations ORDER BY id").all();
  assert.deepEqual(
    recorded.map((row) => row.name),
    first,
  );
});

const finishedJob = (id: string, text = "done") =>
  toCachedJob({
    id,
    createdAt: "2026-01-01T00:00:00Z",
    status: "COMPLETED",
    type: "invoice",
    pages: 1,
    fileName: "a.pdf",
    result: { text },
    urls: { get: `https://waveline.test/jobs/${id}` },
  } as never);

// An entry's round trip and expiry, as the cache tier sees them: test/conformance/cache-tier.ts.
Deno.test("finished jobs: a sweep deletes the entries that have expired", async () => {
  let now = 1_000_000;
  const db = new DatabaseSync(":memory:");
  const tier = sqliteTier(db, { now: () => now, sweepMs: 50 });
  await tier.put(await finishedJob("1"), 60_000);
  await tier.put(await finishedJob("2"), 120_000);
  now += 60_000;
  await sleep(120);
  assert.equal(db.prepare("SELECT COUNT(*) AS n FROM kv").get()?.n, 1);
  assert.equal((await tier.get("2"))?.id, "2");
  tier.close();
});

Deno.test("finished jobs: what is larger than Workers KV keeps stays in memory only", async () => {
  const tier = sqliteTier(new DatabaseSync(":memory:"));
  assert.equal(tier.keeps(await finishedJob("big", "x".repeat(DISK_MAX_ENTRY_BYTES))), false);
  assert.equal(tier.keeps(await finishedJob("small")), true);
  tier.close();
});

// The storage API the actors use (values, atomic puts, listing, the alarm) is checked by
// test/conformance/object-storage.ts; here, what the host adds around it.

/** An actor of the test's own, over what the host hands it. */
function counter({ storage, sql }: ActorParts) {
  return {
    async increment(): Promise<number> {
      const n = (await storage.get<number>("n")) ?? 0;
      await storage.put({ n: n + 1 });
      return n + 1;
    },
    async state(): Promise<{ n: number; list: number[] }> {
      return { n: (await storage.get<number>("n")) ?? 0, list: [1] };
    },
    async remindIn(ms: number): Promise<void> {
      await storage.setAlarm(Date.now() + ms);
    },
    async alarm(): Promise<void> {
      sql.exec("CREATE TABLE IF NOT EXISTS rang (at INTEGER)");
      sql.exec("INSERT INTO rang VALUES (?)", Date.now());
    },
    rang(): number {
      sql.exec("CREATE TABLE IF NOT EXISTS rang (at INTEGER)");
      return sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM rang").one().n;
    },
    fail(): never {
      throw new RangeError("no such thing");
    },
    hang(): Promise<never> {
      return new Promise(() => {});
    },
    pragmas(): unknown[] {
      return [
        sql.exec<{ journal_mode: string }>("PRAGMA journal_mode").one().journal_mode,
        sql.exec<{ synchronous: number }>("PRAGMA synchronous").one().synchronous,
      ];
    },
  };
}

const counterHost = (dir: string) => {
  const host = new ActorHost({ dir, waitUntil: () => {} });
  return { host, counters: host.kind("Counter", counter, 500) };
};

Deno.test("actors: concurrent calls do not interleave across storage steps", async () => {
  const dir = tempDir();
  const { host, counters } = counterHost(dir);
  const answers = await Promise.all(
    Array.from({ length: 20 }, () => counters("tenant-1").increment()),
  );
  assert.deepEqual(
    [...answers].sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  host.close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("actors: answers are copies; a failure or a hang is an unavailable actor", async () => {
  const dir = tempDir();
  const { host, counters } = counterHost(dir);
  const first = await counters("a").state();
  first.list.push(2);
  assert.deepEqual((await counters("a").state()).list, [1]);
  await assert.rejects(
    counters("a").fail(),
    (err: unknown) =>
      err instanceof StorageUnavailableError && /Counter\.fail: no such thing/.test(err.message),
  );
  await assert.rejects(
    counters("a").hang(),
    (err: unknown) => err instanceof StorageUnavailableError && /Counter\.hang/.test(err.message),
  );
  // Each name is an actor of its own.
  await counters("a").increment();
  assert.equal((await counters("b").state()).n, 0);
  host.close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("actors: state and a pending alarm survive a restart; the alarm fires after it", async () => {
  const dir = tempDir();
  const before = counterHost(dir);
  await before.counters("tenant-1").increment();
  await before.counters("tenant-1").remindIn(300);
  before.host.close();
  // Past its time while nothing runs: the next start fires it.
  await sleep(400);
  await assert.rejects(before.counters("tenant-1").rang(), /closed/);

  const after = counterHost(dir);
  assert.equal(after.host.rearmAlarms(), 1);
  const again = after.counters("tenant-1");
  for (let waited = 0; waited < 2000 && (await again.rang()) === 0; waited += 50) await sleep(50);
  assert.equal(await again.rang(), 1);
  assert.equal((await again.state()).n, 1);
  after.host.close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("the failed-auth limiter allows `limit` per period and key", async () => {
  let now = 0;
  const limiter = fixedWindowLimiter({ limit: 3, period: 60 }, () => now);
  const tries = async (key: string) => (await limiter.limit({ key })).success;
  assert.deepEqual(
    [await tries("a"), await tries("a"), await tries("a"), await tries("a"), await tries("b")],
    [true, true, true, false, true],
  );
  now += 60_000;
  assert.equal(await tries("a"), true);
});

Deno.test("one process per data directory", () => {
  const dir = tempDir();
  const lock = lockDataDir(dir);
  assert.throws(() => lockDataDir(dir), /in use by another process/);
  lock.close();
  lockDataDir(dir).close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("secrets are compared whole, whatever their lengths", async () => {
  const dir = tempDir();
  const runtime = openRuntime({ dataDir: dir, vars: { ADMIN_TOKEN: TEST_ADMIN_TOKEN } });
  const equal = runtime.services?.secretsEqual;
  assert.ok(equal, "configured");
  assert.equal(await equal("same secret", "same secret"), true);
  assert.equal(await equal("same secret", "same secreT"), false);
  assert.equal(await equal("short", "a much longer secret"), false);
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("waitUntil: a shutdown waits for work handed over, and for what that work hands over", async () => {
  const tracker = waitUntilTracker();
  const done: string[] = [];
  tracker.waitUntil(
    sleep(50).then(() => {
      done.push("first");
      tracker.waitUntil(sleep(50).then(() => done.push("second")));
    }),
  );
  tracker.waitUntil(Promise.reject(new Error("a failed write is not a failed shutdown")));
  assert.equal(await tracker.drain(2000), true);
  assert.deepEqual(done, ["first", "second"]);

  tracker.waitUntil(new Promise(() => {}));
  assert.equal(await tracker.drain(50), false);
});

Deno.test("wrangler.toml: the failed-authentication limit is the one it declares", async () => {
  const declared = readWranglerConfig().rateLimits.find(
    (limit) => limit.binding === "AUTH_FAILURE_LIMITER",
  );
  assert.ok(declared);
  const dir = tempDir();
  const runtime = openRuntime({ dataDir: dir, vars: { ADMIN_TOKEN: TEST_ADMIN_TOKEN } });
  const count = runtime.services?.countAuthFailure;
  assert.ok(count);
  // Windows start on the clock: calls that straddled a boundary would count in two of them.
  const periodMs = declared.period * 1000;
  const left = periodMs - (Date.now() % periodMs);
  if (left < 2_000) await sleep(left + 10);
  for (let i = 0; i < declared.limit; i++) assert.ok(await count("198.51.100.7"));
  assert.equal(await count("198.51.100.7"), false);
  assert.equal(await count("198.51.100.8"), true);
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("wrangler.toml: what the Deno runtime needs and does not find is named", () => {
  const complete = `
[assets]
directory = "./public"
binding = "ASSETS"
[[d1_databases]]
binding = "DB"
migrations_dir = "migrations"
[[ratelimits]]
name = "AUTH_FAILURE_LIMITER"
namespace_id = "1001"
simple = { limit = 30, period = 60 }
`;
  const config = parseWranglerConfig(complete, "/srv/proxy");
  assert.deepEqual(config.rateLimits, [{ binding: "AUTH_FAILURE_LIMITER", limit: 30, period: 60 }]);
  assert.equal(config.migrationsDir, "/srv/proxy/migrations");
  assert.equal(config.assetsDir, "/srv/proxy/public");

  const without = (line: string) => complete.replace(`${line}\n`, "");
  assert.throws(
    () => parseWranglerConfig(without('migrations_dir = "migrations"'), "/"),
    /wrangler.toml lacks what the Deno runtime needs: d1_databases\[0\].migrations_dir: missing/,
  );
  assert.throws(
    () => parseWranglerConfig(complete.replace("period = 60", "period = 30"), "/"),
    /ratelimits\[0\].simple.period: must be 10 or 60/,
  );
  assert.throws(() => parseWranglerConfig("[assets", "/"), /wrangler.toml is not valid TOML/);
});

/** Every path under `dir` (itself included) with its permission bits. */
function modesUnder(dir: string): Map<string, number> {
  const modes = new Map([[".", statSync(dir).mode & 0o777]]);
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    modes.set(path.slice(dir.length + 1), statSync(path).mode & 0o777);
  }
  return modes;
}

Deno.test("the data directory is private: directories 0700, files 0600, old ones made so", async () => {
  const dir = tempDir();
  const data = join(dir, "data");
  // As an earlier version left it: world-readable, with an object's database.
  mkdirSync(join(data, "objects", "WebhookOutbox"), { recursive: true, mode: 0o755 });
  chmodSync(data, 0o755);
  writeFileSync(join(data, "objects", "WebhookOutbox", "old.sqlite"), "", { mode: 0o644 });
  const runtime = openRuntime({ dataDir: data, vars: {} });
  const counters = runtime.host.kind("Counter", counter, 500);
  await counters("tenant-1").increment();
  await counters("tenant-1").remindIn(60_000);

  const modes = modesUnder(data);
  for (const name of ["d1.sqlite", "d1.sqlite-wal", "kv.sqlite", "instance.lock"]) {
    assert.equal(modes.get(name), 0o600, name);
  }
  assert.ok([...modes.keys()].some((path) => path.endsWith(".sqlite-wal") && path.includes("/")));
  for (const [path, mode] of modes) {
    const isDir = statSync(join(data, path)).isDirectory();
    assert.equal(mode, isDir ? 0o700 : 0o600, `${path} is ${mode.toString(8)}`);
  }
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("a write is on disk when its call returns: WAL synced at every commit", async () => {
  const dir = tempDir();
  const full = 2;
  // Every database of the runtime is opened so: its own, its finished jobs', each actor's.
  const db = openSqlite(join(dir, "d1.sqlite"));
  assert.deepEqual(
    [
      db.prepare("PRAGMA journal_mode").get()?.journal_mode,
      db.prepare("PRAGMA synchronous").get()?.synchronous,
    ],
    ["wal", full],
  );
  db.close();
  const { host, counters } = counterHost(join(dir, "objects"));
  assert.deepEqual(await counters("x").pragmas(), ["wal", full]);
  host.close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("the settler carries an older version's SQL counts over before its first call", async () => {
  const dir = tempDir();
  // As a settler from before its counts moved to key-value entries left its file.
  const id = createHash("sha256").update("JobSettler\0account").digest("hex");
  mkdirSync(join(dir, "objects", "JobSettler"), { recursive: true });
  const path = join(dir, "objects", "JobSettler", `${id}.sqlite`);
  const old = new DatabaseSync(path);
  old.exec(`CREATE TABLE missing_jobs (id TEXT PRIMARY KEY, misses INTEGER NOT NULL);
    CREATE TABLE state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO missing_jobs VALUES ('job-a', 4); INSERT INTO state VALUES ('failures', 3);`);
  old.close();

  const runtime = openRuntime({ dataDir: dir, vars: { ADMIN_TOKEN: TEST_ADMIN_TOKEN } });
  await runtime.services?.settlement?.wake();
  await runtime.close();

  const after = new DatabaseSync(path);
  const tables = after
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all()
    .map((row) => row.name);
  const keys = after
    .prepare("SELECT key FROM _cf_KV ORDER BY key")
    .all()
    .map((row) => row.key);
  after.close();
  assert.deepEqual(tables, ["_cf_KV"]);
  assert.deepEqual(keys, ["failures", "miss:job-a"]);
  rmSync(dir, { recursive: true, force: true });
});
