import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cacheApiTier } from "../../src/platform/cloudflare/cache-api-tier";
import { KV_MAX_VALUE_BYTES, kvTier } from "../../src/platform/cloudflare/kv-tier";
import {
  durableObjectSql,
  durableObjectStorage,
} from "../../src/platform/cloudflare/object-storage";
import { sqlJobStore, sqlTenantStore } from "../../src/platform/sql/stores";
import { cacheTierConformance, quietLog } from "../conformance/cache-tier";
import type { Assert, Harness } from "../conformance/harness";
import { objectSqlConformance } from "../conformance/object-sql";
import { objectStorageConformance } from "../conformance/object-storage";
import { tenancyConformance } from "../conformance/tenancy";

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
