/**
 * The conformance suites against the Deno adapters, under Deno (`deno test`, spawned by
 * conformance.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { CacheTier } from "../../src/core/cache/tiers.ts";
import type { Logger } from "../../src/core/log.ts";
import type { ObjectSql, ObjectStorage } from "../../src/core/objects.ts";
import type { JobStore, TenantStore } from "../../src/core/tenancy/store.ts";
import { sqliteD1 } from "../../src/platform/deno/d1.ts";
import {
  DurableObjectHost,
  type DurableObjectState,
} from "../../src/platform/deno/durable-objects.ts";
import { sqliteKv } from "../../src/platform/deno/kv.ts";
import { openDatabase } from "../../src/platform/deno/runtime.ts";
import { cacheTierConformance, quietLog } from "../conformance/cache-tier.ts";
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

/** An object that hands its storage out, so that a case can use it as the actor would. */
class Holder {
  static last: DurableObjectState["storage"] | undefined;
  constructor(ctx: DurableObjectState) {
    Holder.last = ctx.storage;
  }
  ready(): void {}
  alarm(): void {}
}

const tempDir = () => mkdtempSync(join(tmpdir(), "waveline-conformance-"));

/** A fresh object of the Deno host, its storage as the shells hand it to the actors. */
async function hostedStorage(): Promise<DurableObjectState["storage"]> {
  const dir = tempDir();
  const host = new DurableObjectHost({
    dir,
    env: {},
    classes: { Holder: Holder as never },
    waitUntil: () => {},
  });
  opened.push(() => {
    host.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await host.namespace("Holder").getByName("actor").ready();
  const storage = Holder.last;
  if (!storage) throw new Error("the host built no object");
  return storage;
}

// As the actors see them: the shells' `durableObjectStorage` and `durableObjectSql` forward each
// call unchanged (and are typed against workers-types, which Deno does not check).
objectStorageConformance(harness, async () => (await hostedStorage()) as unknown as ObjectStorage);
objectSqlConformance(harness, async () => (await hostedStorage()).sql as unknown as ObjectSql);

/**
 * The adapters the Worker builds over D1 and KV, here over the Deno runtime's database (migrated SQLite).
 * Imported by a computed specifier, as src/platform/deno/worker.ts imports the Worker: they are
 * typed against workers-types, which `tsc` checks and `deno check` does not.
 */
const adapter = (file: string) =>
  new URL(`../../src/platform/cloudflare/${file}`, import.meta.url).href;
const { d1TenantStore, d1JobStore } = (await import(adapter("d1-stores.ts"))) as {
  d1TenantStore(db: unknown): TenantStore;
  d1JobStore(db: unknown): JobStore;
};
const { kvTier, KV_MAX_VALUE_BYTES } = (await import(adapter("kv-tier.ts"))) as {
  kvTier(kv: unknown, log: Logger): CacheTier;
  KV_MAX_VALUE_BYTES: number;
};

tenancyConformance(harness, async () => {
  const dir = tempDir();
  const { db } = openDatabase(dir);
  opened.push(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const d1 = sqliteD1(db);
  return { tenants: d1TenantStore(d1), jobs: d1JobStore(d1) };
});

/** KV's clock, moved by the expiry case. */
let now = Date.now();
cacheTierConformance(
  harness,
  async () => {
    const kv = sqliteKv(new DatabaseSync(":memory:"), { now: () => now });
    opened.push(() => kv.close());
    return kvTier(kv, quietLog);
  },
  { maxBodyBytes: KV_MAX_VALUE_BYTES, advance: (ms) => (now += ms) },
);
