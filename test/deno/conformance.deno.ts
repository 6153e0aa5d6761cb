/**
 * The conformance suites against the Deno adapters, under Deno (`deno test`, spawned by
 * conformance.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { ObjectSql, ObjectStorage } from "../../src/core/objects.ts";
import { ActorHost } from "../../src/platform/deno/actors.ts";
import { DISK_MAX_ENTRY_BYTES, sqliteTier } from "../../src/platform/deno/cache-tier.ts";
import { openDatabase } from "../../src/platform/deno/runtime.ts";
import { sqliteDatabase } from "../../src/platform/deno/sql-database.ts";
import { sqlJobStore, sqlTenantStore } from "../../src/platform/sql/stores.ts";
import { cacheTierConformance } from "../conformance/cache-tier.ts";
import type { Harness } from "../conformance/harness.ts";
import { objectSqlConformance } from "../conformance/object-sql.ts";
import { objectStorageConformance } from "../conformance/object-storage.ts";
import { tenancyConformance } from "../conformance/tenancy.ts";

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
