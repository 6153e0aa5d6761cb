import type { MiddlewareHandler } from "hono";
import type { HonoEnv } from "../env";
import { memoisedJobStore, memoisedTenantStore } from "../tenancy/cached";
import { d1JobStore, d1TenantStore } from "../tenancy/d1";
import { guardStorage } from "../tenancy/guard";
import type { JobStore, TenantStore } from "../tenancy/store";

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
