import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./context";

/**
 * CORS for the tenant API. A preflight carries no credential and shows nothing, so it is allowed
 * for any well-formed origin without a lookup: what an Origin may do is decided on the real
 * request, against its own tenant's list (`authenticate`), which refuses any other with a 403 that
 * carries no CORS headers, so the page cannot read it. Every other answer is readable by the page
 * that asked: errors say nothing of anyone, and data only reaches a tenant's own origins. No
 * credentials mode: browsers send tokens, not cookies.
 */
export function browserCors() {
  const tenantCors = cors({
    origin: (origin) => (isWebOrigin(origin) ? origin : null),
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
    // A preflight is answered right here; any other request goes on to the routes.
    const preflight = await tenantCors(c, next);
    if (preflight) return preflight;
    if (c.get("originRefused")) {
      for (const name of [...c.res.headers.keys()]) {
        if (name.startsWith("access-control-")) c.res.headers.delete(name);
      }
    }
  });
}

/** `scheme://host[:port]` of a web page, exactly as a browser serialises it (never `null`). */
function isWebOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === "https:" || url.protocol === "http:") && url.origin === origin;
  } catch {
    return false;
  }
}
