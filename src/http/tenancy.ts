import type { MiddlewareHandler } from "hono";
import type { HonoEnv } from "../core/config";
import { memoisedJobStore, memoisedTenantStore } from "../core/tenancy/cached";
import { guardStorage } from "../core/tenancy/guard";
import type { JobStore, TenantStore } from "../core/tenancy/store";
import { d1JobStore, d1TenantStore } from "../platform/cloudflare/d1-stores";

type Stores = { tenantStore: TenantStore; jobStore: JobStore };

// Built once per database binding, not per request: the stores hold no request state.
const storesByDatabase = new WeakMap<D1Database, Stores>();

function storesFor(db: D1Database): Stores {
  let stores = storesByDatabase.get(db);
  if (!stores) {
    stores = {
      tenantStore: memoisedTenantStore(guardStorage(d1TenantStore(db), "tenants")),
      jobStore: memoisedJobStore(guardStorage(d1JobStore(db), "jobs")),
    };
    storesByDatabase.set(db, stores);
  }
  return stores;
}

/** Tenants and job ownership from D1, with the hot lookups memoised per isolate. */
export function withTenancy(): MiddlewareHandler<HonoEnv> {
  return async (c, next) => {
    const { tenantStore, jobStore } = storesFor(c.env.DB);
    c.set("tenantStore", tenantStore);
    c.set("jobStore", jobStore);
    await next();
  };
}
