import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { Services } from "../core/services";
import type { AppEnv } from "./context";

/**
 * CORS for the tenant API. A preflight carries no credential, so it is answered from the origin
 * alone: allowed when any enabled tenant lists it, looked up in the set of enabled origins this
 * isolate holds (one query per isolate per 10 s, whatever Origins callers send). The real
 * request is then held to its own tenant's list by `authenticate`. No credentials mode: browsers send tokens, not cookies.
 */
export function browserCors(services: Services) {
  const tenantCors = cors({
    origin: async (origin) => {
      if (!origin) return null;
      try {
        return (await services.tenants.enabledOrigins()).has(origin) ? origin : null;
      } catch {
        // Storage down: no CORS headers; the request itself then fails closed.
        return null;
      }
    },
    allowMethods: ["GET", "HEAD", "POST", "OPTIONS"],
    allowHeaders: [
      "Authorization",
      "Content-Type",
      "Idempotency-Key",
      "If-None-Match",
      // A stream's reconnect says which event it saw last.
      "Last-Event-ID",
      "X-Request-Id",
    ],
    exposeHeaders: [
      "X-Request-Id",
      "Retry-After",
      "ETag",
      "X-Cache",
      "Location",
      "Idempotent-Replayed",
      "Page-Budget-Remaining",
      "RateLimit-Limit",
      "RateLimit-Remaining",
      "RateLimit-Reset",
    ],
    maxAge: 600,
  });
  return createMiddleware<AppEnv>(async (c, next) => {
    // The admin API is for operators' tools, never for browsers: no CORS at all.
    if (c.req.path === "/admin" || c.req.path.startsWith("/admin/")) return next();
    // Not a browser's cross-origin request: nothing to answer or check (the answer still varies).
    if (c.req.header("Origin") === undefined) {
      await next();
      c.res.headers.append("Vary", "Origin");
      return;
    }
    return tenantCors(c, next);
  });
}
