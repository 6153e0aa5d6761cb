import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import type { RequestScope } from "../core/log";
import { durationBucket, statusClass, type Tally } from "../core/metrics/tally";
import type { Services } from "../core/services";
import type { Principal } from "../core/tenancy/access";
import type { AppEnv } from "./context";

/**
 * Counts each request of a tenant (once authenticated: an anonymous failure is no tenant's) into
 * this isolate's recorder: its route, status class and time, and what the services it called
 * counted on its scope (cache hits by tier, upstream calls made and saved, jobs created). No I/O
 * here: the recorder flushes in the background.
 */
export function requestMetrics(services: Services) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = Date.now();
    const tally: Tally = { requests: 1 };
    const outer = c.var.scope;
    const scope: RequestScope = {
      log: outer.log,
      waitUntil: (promise) => outer.waitUntil(promise),
      count: (counter, n = 1) => {
        tally[counter] = (tally[counter] ?? 0) + n;
      },
    };
    c.set("scope", scope);
    try {
      await next();
    } finally {
      const principal = (c.var as { principal?: Principal }).principal;
      if (principal) {
        const status = c.res.status;
        tally[`status:${statusClass(status)}`] = 1;
        tally[`route:${c.req.method} ${routePath(c)}`] = 1;
        tally[`duration:${durationBucket(Date.now() - started)}`] = 1;
        if (status >= 400) tally.errors = 1;
        services.metrics.record(principal.tenant.id, principal.subject, tally, scope.waitUntil);
      }
    }
  });
}
