import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cacheApiTier } from "../../src/platform/cloudflare/cache-api-tier";
import { KV_MAX_VALUE_BYTES, kvTier } from "../../src/platform/cloudflare/kv-tier";
import { OBJECT_DEADLINES_MS, objectCalls } from "../../src/platform/cloudflare/object-call";
import {
  durableObjectSql,
  durableObjectStorage,
} from "../../src/platform/cloudflare/object-storage";
import { sqlJobStore, sqlTenantStore } from "../../src/platform/sql/stores";
import { cacheTierConformance, quietLog } from "../conformance/cache-tier";
import type { Assert, Harness } from "../conformance/harness";
import { ledgerConformance } from "../conformance/ledger";
import { limiterConformance } from "../conformance/limiter";
import { objectSqlConformance } from "../conformance/object-sql";
import { objectStorageConformance } from "../conformance/object-storage";
import { outboxConformance } from "../conformance/outbox";
import { tenancyConformance } from "../conformance/tenancy";
import { watcherConformance } from "../conformance/watcher";
import { fakeWaveline } from "./helpers";

/** The conformance suites against the Cloudflare adapters, on workerd's own storage. */

const assert: Assert = {
  equal: (actual, expected, message) => expect(actual, message).toBe(expected),
  deepEqual: (actual, expected, message) => expect(actual, message).toStrictEqual(expected),
  ok: (value, message) => expect(value, message).toBeTruthy(),
  rejects: async (run) => {
    await expect(run()).rejects.toThrow();
  },
};

/** Each case runs inside a Durable Object of its own, whose storage it may use only from there. */
let storage: DurableObjectStorage | undefined;
const insideAnObject: Harness = {
  assert,
  test: (name, run) =>
    it(name, () =>
      runInDurableObject(env.RATE_LIMITER.get(env.RATE_LIMITER.newUniqueId()), async (_, state) => {
        storage = state.storage;
        try {
          await run();
        } finally {
          storage = undefined;
        }
      }),
    ),
};

describe("durableObjectStorage", () => {
  objectStorageConformance(insideAnObject, async () => {
    if (!storage) throw new Error("an ObjectStorage case ran outside its Durable Object");
    return durableObjectStorage(storage);
  });
});

describe("durableObjectSql", () => {
  objectSqlConformance(insideAnObject, async () => {
    if (!storage) throw new Error("an ObjectSql case ran outside its Durable Object");
    return durableObjectSql(storage);
  });
});

describe("sqlTenantStore and sqlJobStore", () => {
  tenancyConformance({ test: it, assert }, async () => ({
    tenants: sqlTenantStore(env.DB),
    jobs: sqlJobStore(env.DB),
  }));
});

describe("kvTier", () => {
  cacheTierConformance({ test: it, assert }, async () => kvTier(env.JOB_CACHE, quietLog), {
    maxBodyBytes: KV_MAX_VALUE_BYTES,
  });
});
describe("cacheApiTier", () => {
  cacheTierConformance({ test: it, assert }, async () => cacheApiTier(caches.default, quietLog));
});

// The per-key actors as their callers reach them: real Durable Objects in miniflare, called through
// `objectCalls` as the services do (each case names objects of its own).
describe("TenantRateLimiter (Durable Object)", () => {
  limiterConformance(
    { test: it, assert },
    objectCalls(env.RATE_LIMITER, "limiter", OBJECT_DEADLINES_MS.limiter),
  );
});

describe("CreationLedger (Durable Object)", () => {
  ledgerConformance(
    { test: it, assert },
    objectCalls(env.CREATION_LEDGER, "ledger", OBJECT_DEADLINES_MS.ledger),
  );
});

describe("WebhookOutbox (Durable Object)", () => {
  outboxConformance(
    { test: it, assert },
    objectCalls(env.WEBHOOK_OUTBOX, "outbox", OBJECT_DEADLINES_MS.outbox),
  );
});

// Watchers ask the fake Waveline the pool's Worker is configured with (its control API makes jobs).
describe("JobWatcher (Durable Object)", () => {
  watcherConformance(
    { test: it, assert },
    objectCalls(env.JOB_WATCHER, "watcher", OBJECT_DEADLINES_MS.watch),
    {
      createJob: (job) => fakeWaveline.createJob(job),
      updateJob: (id, patch) => fakeWaveline.updateJob(id, patch),
    },
  );
});
