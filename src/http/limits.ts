import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";
import { fail } from "./errors";

/** Far above any legitimate request, far below what would cost real CPU or memory. */
export const REQUEST_LIMITS = {
  urlChars: 4096,
  headerBytes: 16 * 1024,
  /** JSON request bodies other than job creation (admin, tokens). */
  smallBodyBytes: 64 * 1024,
  jsonDepth: 64,
};

export function requestLimits(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.url.length > REQUEST_LIMITS.urlChars) fail("url_too_long", "request URL is too long");
    let headerBytes = 0;
    c.req.raw.headers.forEach((value, name) => {
      headerBytes += name.length + value.length + 4;
    });
    if (headerBytes > REQUEST_LIMITS.headerBytes)
      fail("headers_too_large", "request headers are too large");
    await next();
  };
}
