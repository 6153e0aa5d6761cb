/**
 * The conformance suites against the Deno runtime (its ports and its actors), under Deno
 * (`deno test`, spawned by conformance.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { ObjectSql, ObjectStorage } from "../../src/core/objects.ts";
import { ActorHost } from "../../src/platform/deno/actors.ts";
import { DISK_MAX_ENTRY_BYTES, sqliteTier } from "../../src/platform/deno/cache-tier.ts";
import { openDatabase, openRuntime } from "../../src/platform/deno/runtime.ts";
import { sqliteDatabase } from "../../src/platform/deno/sql-database.ts";
import { sqlJobStore, sqlTenantStore } from "../../src/platform/sql/stores.ts";
import { cacheTierConformance } from "../conformance/cache-tier.ts";
import type { Harness } from "../conformance/harness.ts";
import { ledgerConformance } from "../conformance/ledger.ts";
import { limiterConformance } from "../conformance/limiter.ts";
import { objectSqlConformance } from "../conformance/object-sql.ts";
import { objectStorageConformance } from "../conformance/object-storage.ts";
import { outboxConformance } from "../conformance/outbox.ts";
import { tenancyConformance } from "../conformance/tenancy.ts";
import { upstreamOver, watcherConformance } from "../conformance/watcher.ts";
import { TEST_ADMIN_TOKEN, TEST_WAVELINE_KEY } from "../constants.ts";

/** What each case opened, closed when it ends (a host's alarm timers, its files). */
let opened: (() => void)[] = [];
const harness: Harness = {
  assert,
  test: (name, run) =>
    Deno.test(name, async () => {
      try {
        await run();
      } finally {
        for (const close of opened.reverse()) close();
        opened = [];
      }
    }),
};

const tempDir = () => mkdtempSync(join(tmpdir(), "waveline-conformance-"));

/** A fresh actor of the Deno host: the storage and the database it hands the actors. */
async function hostedParts(): Promise<{ storage: ObjectStorage; sql: ObjectSql }> {
  const dir = tempDir();
  const host = new ActorHost({ dir, waitUntil: () => {} });
  opened.push(() => {
    host.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let parts: { storage: ObjectStorage; sql: ObjectSql } | undefined;
  const holders = host.kind(
    "Holder",
    (given) => {
      parts = given;
      return { ready() {} };
    },
    1000,
  );
  await holders("actor").ready();
  if (!parts) throw new Error("the host built no actor");
  return parts;
}

objectStorageConformance(harness, async () => (await hostedParts()).storage);
objectSqlConformance(harness, async () => (await hostedParts()).sql);

/** The stores both runtimes build, here over the Deno runtime's database (migrated SQLite). */
tenancyConformance(harness, async () => {
  const dir = tempDir();
  const { db } = openDatabase(dir);
  opened.push(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const sql = sqliteDatabase(db);
  return { tenants: sqlTenantStore(sql), jobs: sqlJobStore(sql) };
});

/** The finished-jobs table's clock, moved by the expiry case. */
let now = Date.now();
cacheTierConformance(
  harness,
  async () => {
    const tier = sqliteTier(new DatabaseSync(":memory:"), { now: () => now });
    opened.push(() => tier.close());
    return tier;
  },
  { maxBodyBytes: DISK_MAX_ENTRY_BYTES, advance: (ms) => (now += ms) },
);

/**
 * The per-key actors as the Deno runtime's services call them: its host, over a data directory of
 * its own, its watchers asking a Waveline of the test's (a job made there answers as made until
 * updated).
 */
const waveline = new Map<string, object>();
const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  const id = decodeURIComponent(new URL(request.url).pathname.split("/").pop() ?? "");
  const job = waveline.get(id);
  return job
    ? Response.json(job)
    : Response.json({ error: { code: "not_found", message: "no such job" } }, { status: 404 });
});
const runtimeDir = tempDir();
const runtime = openRuntime({
  dataDir: runtimeDir,
  vars: {
    WAVELINE_API_URL: `http://127.0.0.1:${upstream.addr.port}`,
    WAVELINE_API_KEY: TEST_WAVELINE_KEY,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    PENDING_CACHE_TTL_MS: "500",
  },
});
const actors = runtime.actors;
if (!actors) throw new Error("the runtime is not configured");
// The host and the stub Waveline outlive every case; Deno's sanitizers are told so.
const actorHarness: Harness = {
  assert,
  test: (name, run) => Deno.test({ name, fn: run, sanitizeOps: false, sanitizeResources: false }),
};
limiterConformance(actorHarness, (name) => actors.limiters(name));
ledgerConformance(actorHarness, (name) => actors.ledgers(name));
outboxConformance(actorHarness, (name) => actors.outboxes(name));
watcherConformance(actorHarness, (name) => actors.watchers(name), upstreamOver(waveline));
globalThis.addEventListener("unload", () => {
  void runtime.close(0);
  void upstream.shutdown();
  rmSync(runtimeDir, { recursive: true, force: true });
});
