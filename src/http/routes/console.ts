import { Hono } from "hono";
import type { Services } from "../../core/services";
import { staticAsset } from "../assets";
import type { AppEnv } from "../context";
import { errorResponse } from "../errors";

/** Only its own script and style; it talks to this proxy alone, and nothing may frame it. */
const CONSOLE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The console for operators (admin token) and tenants (API key), where CONSOLE_ENABLED is true.
 * Static assets (public/console/, built from console/ by `npm run console`); the page holds the
 * credential in memory and calls the admin and tenant APIs like any client.
 */
export function consoleRoutes(services: Services) {
  const page = new Hono<AppEnv>();
  // `all`, as for the demo: with the console off, every method gets the app's plain 404.
  page.all("/console/:file{console\\.(?:js|css)}?", (c) => {
    if (!services.config.consoleEnabled) return c.notFound();
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      return errorResponse(c, "method_not_allowed", "method not allowed", { Allow: "GET, HEAD" });
    }
    const file = c.req.param("file") ?? "index.html";
    return staticAsset(services, c, `/console/${file}`, {
      "Content-Security-Policy": CONSOLE_POLICY,
      "Cache-Control": "no-store",
      "Referrer-Policy": "no-referrer",
    });
  });
  return page;
}
