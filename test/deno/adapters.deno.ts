/**
 * The Deno adapters against the binding behaviour the Worker relies on. Runs under Deno
 * (`deno test`, spawned by adapters.test.ts), the runtime they are written for.
 */
import assert from "node:assert/strict";
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
import { applyMigrations, sqliteD1 } from "../../src/platform/deno/d1.ts";
import {
  DurableObjectHost,
  type DurableObjectState,
} from "../../src/platform/deno/durable-objects.ts";
import { installWorkersGlobals } from "../../src/platform/deno/globals.ts";
import { KV_MAX_VALUE_BYTES, sqliteKv } from "../../src/platform/deno/kv.ts";
import { fixedWindowLimiter } from "../../src/platform/deno/rate-limit.ts";
import { lockDataDir, openRuntime } from "../../src/platform/deno/runtime.ts";
import { waitUntilTracker } from "../../src/platform/deno/wait-until.ts";
import { loadWorker, type WorkerModule } from "../../src/platform/deno/worker.ts";
import {
  parseWranglerConfig,
  readWranglerConfig,
} from "../../src/platform/deno/wrangler-config.ts";

const tempDir = () => mkdtempSync(join(tmpdir(), "waveline-deno-test-"));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("D1: a batch is all or nothing", async () => {
  const db = sqliteD1(new DatabaseSync(":memory:"));
  await db.exec("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL)");
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

Deno.test("D1: results, meta and binding rules as D1 has them", async () => {
  const db = sqliteD1(new DatabaseSync(":memory:"));
  await db.exec("CREATE TABLE t (id TEXT PRIMARY KEY, flag INTEGER)");
  const inserted = await db
    .prepare("INSERT INTO t VALUES (?, ?) ON CONFLICT (id) DO NOTHING RETURNING id")
    .bind("a", true)
    .all();
  assert.deepEqual(inserted.results, [{ id: "a" }]);
  assert.equal(Object.getPrototypeOf(inserted.results[0]), Object.prototype);
  const updated = await db.prepare("UPDATE t SET flag = ? WHERE id = ?").bind(false, "a").run();
  assert.equal(updated.meta.changes, 1);
  assert.equal(await db.prepare("SELECT flag FROM t").first("flag"), 0);
  assert.equal(await db.prepare("SELECT flag FROM t WHERE id = ?").bind("none").first(), null);
  assert.throws(() => db.prepare("SELECT ?").bind(undefined), /D1_TYPE_ERROR/);
});

Deno.test("D1: migrations apply once, in order, recorded as wrangler records them", () => {
  const db = new DatabaseSync(":memory:");
  const migrations = readWranglerConfig().d1.migrationsDir;
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

// An entry's round trip and expiry, as the cache tier sees them: test/conformance/cache-tier.ts.
Deno.test("KV: a sweep deletes the entries that have expired", async () => {
  let now = 1_000_000;
  const kv = sqliteKv(new DatabaseSync(":memory:"), { now: () => now });
  await kv.put("job:1", "body", { expirationTtl: 60 });
  await kv.put("job:2", "body", { expirationTtl: 120 });
  now += 60_000;
  assert.equal(kv.sweep(), 1);
  assert.equal(await kv.get("job:2"), "body");
  kv.close();
});

Deno.test("KV: refuses what Workers KV refuses (TTL under a minute, values over 25 MiB)", async () => {
  const kv = sqliteKv(new DatabaseSync(":memory:"));
  await assert.rejects(kv.put("k", "v", { expirationTtl: 59 }), /at least 60/);
  await assert.rejects(kv.put("k", "x".repeat(KV_MAX_VALUE_BYTES + 1)), /413/);
  await kv.put("k", "x".repeat(KV_MAX_VALUE_BYTES));
  assert.equal(((await kv.get("k")) as string).length, KV_MAX_VALUE_BYTES);
  kv.close();
});

// The storage API the actors use (values, atomic puts, listing, the alarm) is checked by
// test/conformance/object-storage.ts; here, what the host adds around it.

/** A Durable Object of the test's own, built as the Worker's are: (ctx, env). */
class Counter {
  constructor(readonly ctx: DurableObjectState) {}
  async increment(): Promise<number> {
    const n = ((await this.ctx.storage.get("n")) as number | undefined) ?? 0;
    await this.ctx.storage.put("n", n + 1);
    return n + 1;
  }
  async state(): Promise<{ n: number; list: number[] }> {
    return { n: ((await this.ctx.storage.get("n")) as number | undefined) ?? 0, list: [1] };
  }
  async remindIn(ms: number): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + ms);
  }
  async alarm(): Promise<void> {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS rang (at INTEGER)");
    this.ctx.storage.sql.exec("INSERT INTO rang VALUES (?)", Date.now());
  }
  rang(): number {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS rang (at INTEGER)");
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM rang").one().n;
  }
  fail(): never {
    throw new RangeError("no such thing");
  }
}

const counterHost = (dir: string) =>
  new DurableObjectHost({
    dir,
    env: {},
    classes: { Counter: Counter as never },
    waitUntil: () => {},
  });

Deno.test("Durable Objects: concurrent calls do not interleave across storage awaits", async () => {
  const dir = tempDir();
  const host = counterHost(dir);
  const counter = host.namespace("Counter").getByName("tenant-1");
  const answers = await Promise.all(Array.from({ length: 20 }, () => counter.increment()));
  assert.deepEqual(
    [...(answers as number[])].sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  host.close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("Durable Objects: RPC clones results and errors keep their name and message", async () => {
  const dir = tempDir();
  const host = counterHost(dir);
  const namespace = host.namespace("Counter");
  const stub = namespace.get(namespace.idFromName("a"));
  const first = (await stub.state()) as { list: number[] };
  first.list.push(2);
  assert.deepEqual(((await stub.state()) as { list: number[] }).list, [1]);
  await assert.rejects(stub.fail(), { name: "RangeError", message: "no such thing" });
  assert.equal(namespace.idFromName("a").toString(), namespace.idFromName("a").toString());
  assert.notEqual(namespace.idFromName("a").toString(), namespace.idFromName("b").toString());
  host.close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("Durable Objects: state and a pending alarm survive a restart; the alarm fires after it", async () => {
  const dir = tempDir();
  const before = counterHost(dir);
  const stub = before.namespace("Counter").getByName("tenant-1");
  await stub.increment();
  await stub.remindIn(300);
  before.close();
  // Past its time while nothing runs: the next start fires it.
  await sleep(400);
  await assert.rejects(stub.rang(), /closed/);

  const after = counterHost(dir);
  assert.equal(after.rearmAlarms(), 1);
  const again = after.namespace("Counter").getByName("tenant-1");
  for (let waited = 0; waited < 2000 && (await again.rang()) === 0; waited += 50) await sleep(50);
  assert.equal(await again.rang(), 1);
  assert.equal(((await again.state()) as { n: number }).n, 1);
  after.close();
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

Deno.test("crypto.subtle.timingSafeEqual as Workers has it", () => {
  installWorkersGlobals();
  const subtle = crypto.subtle as unknown as {
    timingSafeEqual(a: BufferSource, b: BufferSource): boolean;
  };
  assert.equal(subtle.timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]).buffer), true);
  assert.equal(subtle.timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
  assert.throws(
    () => subtle.timingSafeEqual(new Uint8Array([1]), new Uint8Array([1, 2])),
    TypeError,
  );
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

/** A Worker whose every Durable Object class wrangler.toml binds is `Counter`. */
const counterWorker: WorkerModule = {
  default: { fetch: () => new Response("ok") },
  ...Object.fromEntries(readWranglerConfig().durableObjects.map((b) => [b.className, Counter])),
};

Deno.test("wrangler.toml: the runtime hosts every Durable Object and rate limit it declares", async () => {
  const config = readWranglerConfig();
  assert.ok(config.durableObjects.length > 0);
  const dir = tempDir();
  const runtime = openRuntime(counterWorker, { dataDir: dir, vars: {} });
  for (const { binding } of config.durableObjects) {
    const namespace = runtime.env[binding] as ReturnType<DurableObjectHost["namespace"]>;
    assert.equal(await namespace.getByName("a").increment(), 1, binding);
  }
  for (const { binding, limit, period } of config.rateLimits) {
    const limiter = runtime.env[binding] as {
      limit(o: { key: string }): Promise<{ success: boolean }>;
    };
    // Windows start on the clock: calls that straddled a boundary would count in two of them.
    const periodMs = period * 1000;
    const left = periodMs - (Date.now() % periodMs);
    if (left < 2_000) await new Promise((resolve) => setTimeout(resolve, left + 10));
    for (let i = 0; i < limit; i++) assert.ok((await limiter.limit({ key: "k" })).success, binding);
    assert.equal((await limiter.limit({ key: "k" })).success, false, binding);
  }
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("wrangler.toml: the Worker entry exports every Durable Object class it binds", async () => {
  installWorkersGlobals();
  const worker = await loadWorker();
  for (const { className } of readWranglerConfig().durableObjects) {
    assert.equal(typeof worker[className], "function", className);
  }
});

Deno.test("wrangler.toml: a class the Worker does not export stops the runtime before it opens anything", () => {
  const dir = join(tempDir(), "data");
  const { TenantMetrics: _, ...withoutMetrics } = counterWorker;
  assert.throws(
    () => openRuntime(withoutMetrics as WorkerModule, { dataDir: dir, vars: {} }),
    /binds TENANT_METRICS to the Durable Object class TenantMetrics, which the Worker entry does not export/,
  );
  assert.throws(() => statSync(dir), /ENOENT|No such file/);
});

Deno.test("wrangler.toml: what the Deno runtime needs and does not find is named", () => {
  const complete = `
[assets]
directory = "./public"
binding = "ASSETS"
[[d1_databases]]
binding = "DB"
migrations_dir = "migrations"
[[kv_namespaces]]
binding = "JOB_CACHE"
[[durable_objects.bindings]]
name = "RATE_LIMITER"
class_name = "TenantRateLimiter"
[[ratelimits]]
name = "AUTH_FAILURE_LIMITER"
namespace_id = "1001"
simple = { limit = 30, period = 60 }
`;
  const config = parseWranglerConfig(complete, "/srv/proxy");
  assert.deepEqual(config.durableObjects, [
    { binding: "RATE_LIMITER", className: "TenantRateLimiter" },
  ]);
  assert.deepEqual(config.rateLimits, [{ binding: "AUTH_FAILURE_LIMITER", limit: 30, period: 60 }]);
  assert.equal(config.d1.migrationsDir, "/srv/proxy/migrations");
  assert.equal(config.assets.directory, "/srv/proxy/public");

  const without = (line: string) => complete.replace(`${line}\n`, "");
  assert.throws(
    () => parseWranglerConfig(without('class_name = "TenantRateLimiter"'), "/"),
    /wrangler.toml lacks what the Deno runtime needs: durable_objects.bindings\[0\].class_name: missing/,
  );
  assert.throws(
    () => parseWranglerConfig(without('migrations_dir = "migrations"'), "/"),
    /d1_databases\[0\].migrations_dir: missing/,
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
  const runtime = openRuntime(counterWorker, { dataDir: data, vars: {} });
  const outboxes = runtime.env.WEBHOOK_OUTBOX as ReturnType<DurableObjectHost["namespace"]>;
  await outboxes.getByName("tenant-1").increment();
  await outboxes.getByName("tenant-1").remindIn(60_000);

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
  const runtime = openRuntime(counterWorker, { dataDir: dir, vars: {} });
  const db = runtime.env.DB as ReturnType<typeof sqliteD1>;
  const full = 2;
  assert.equal(await db.prepare("PRAGMA synchronous").first("synchronous"), full);
  assert.equal(await db.prepare("PRAGMA journal_mode").first("journal_mode"), "wal");
  const host = new DurableObjectHost({
    dir: join(dir, "objects"),
    env: {},
    classes: { Pragmas: Pragmas as never },
    waitUntil: () => {},
  });
  assert.deepEqual(await host.namespace("Pragmas").getByName("x").read(), ["wal", full]);
  host.close();
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

class Pragmas {
  constructor(readonly ctx: DurableObjectState) {}
  read(): unknown[] {
    const sql = this.ctx.storage.sql;
    return [
      sql.exec<{ journal_mode: string }>("PRAGMA journal_mode").one().journal_mode,
      sql.exec<{ synchronous: number }>("PRAGMA synchronous").one().synchronous,
    ];
  }
}
