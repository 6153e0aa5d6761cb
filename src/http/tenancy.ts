import type { MiddlewareHandler } from "hono";
import type { HonoEnv } from "../env";
import { memoisedJobStore, memoisedTenantStore } from "../tenancy/cached";
import { d1JobStore, d1TenantStore } from "../tenancy/d1";
import { guardStorage } from "../tenancy/guard";

/** Tenants and job ownership from D1, with the hot lookups memoised per isolate. */
export function withTenancy(): MiddlewareHandler<HonoEnv> {
  return async (c, next) => {
    c.set("tenantStore", memoisedTenantStore(guardStorage(d1TenantStore(c.env.DB), "tenants")));
    c.set("jobStore", memoisedJobStore(guardStorage(d1JobStore(c.env.DB), "jobs")));
    await next();
  };
}
