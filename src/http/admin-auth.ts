import type { MiddlewareHandler } from "hono";
import type { HonoEnv } from "../env";
import { bearerToken, secretsEqual } from "./credentials";
import { fail } from "./errors";

/** Operators only: `Authorization: Bearer <ADMIN_TOKEN>`. No token configured means no admin access. */
export function requireAdmin(): MiddlewareHandler<HonoEnv> {
  return async (c, next) => {
    const expected = c.var.config.adminToken;
    const given = bearerToken(c.req.header("Authorization"));
    if (!given || !expected || !(await secretsEqual(given, expected))) {
      fail(401, "missing or invalid credentials", { "WWW-Authenticate": "Bearer" });
    }
    await next();
  };
}
