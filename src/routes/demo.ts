import { Hono } from "hono";
import type { HonoEnv } from "../env";
import { errorResponse } from "../http/errors";
import { demoPage } from "./demo-page";

/** A page to try the proxy from a browser: local development, or where DEMO_ENABLED is true. */
export const demo = new Hono<HonoEnv>();

// `all`, not `get`: with the page off, every method gets the app's 404, as a path that does not
// exist would (a GET-only route would make other methods a 405 that reveals it).
demo.all("/demo", (c) => {
  if (!c.get("config").demoEnabled) return c.notFound();
  if (c.req.method !== "GET" && c.req.method !== "HEAD") {
    return errorResponse(c, 405, "method not allowed", { Allow: "GET, HEAD" });
  }
  const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  return c.html(demoPage(nonce), 200, {
    // Inline script and style by nonce only; the page may call a proxy at any origin.
    "Content-Security-Policy": [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      "connect-src *",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
    "Cache-Control": "no-store",
  });
});
