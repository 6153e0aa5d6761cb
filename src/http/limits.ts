import type { MiddlewareHandler } from "hono";
import type { HonoEnv } from "../env";
import { fail } from "./errors";

/** Far above any legitimate request, far below what would cost real CPU or memory. */
export const REQUEST_LIMITS = {
  urlChars: 4096,
  headerBytes: 16 * 1024,
  /** JSON request bodies other than job creation (admin, tokens). */
  smallBodyBytes: 64 * 1024,
  jsonDepth: 64,
};

export function requestLimits(): MiddlewareHandler<HonoEnv> {
  return async (c, next) => {
    if (c.req.url.length > REQUEST_LIMITS.urlChars) fail(414, "request URL is too long");
    let headerBytes = 0;
    c.req.raw.headers.forEach((value, name) => {
      headerBytes += name.length + value.length + 4;
    });
    if (headerBytes > REQUEST_LIMITS.headerBytes) fail(431, "request headers are too large");
    await next();
  };
}

/** Whether a parsed JSON value nests deeper than `max` (checked without recursion). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (typeof current !== "object" || current === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}
