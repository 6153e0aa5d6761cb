import { Hono } from "hono";
import type { Services } from "../../core/services";
import { staticAsset } from "../assets";
import type { AppEnv } from "../context";
import { errorResponse } from "../errors";

/**
 * A page to try the proxy from a browser: local development, or where DEMO_ENABLED is true. Its
 * files are static assets (public/demo/); no key ships in them: the developer types one.
 */
export function demoRoutes(services: Services) {
  const demo = new Hono<AppEnv>();

  /** Only its own script and style run; the page may call a proxy at any origin. */
  const DEMO_POLICY = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src *",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");

  // `all`, not `get`: with the page off, every method gets the app's 404, as a path that does not
  // exist would (a GET-only route would make other methods a 405 that reveals it).
  demo.all("/demo/:file{demo\\.(?:js|css)}?", (c) => {
    if (!services.config.demoEnabled) return c.notFound();
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      return errorResponse(c, "method_not_allowed", "method not allowed", { Allow: "GET, HEAD" });
    }
    const file = c.req.param("file") ?? "index.html";
    return staticAsset(services, c, `/demo/${file}`, {
      "Content-Security-Policy": DEMO_POLICY,
      "Cache-Control": "no-store",
    });
  });
  return demo;
}
