import type { MiddlewareHandler } from "hono";
import type { HonoEnv } from "../core/config";
import { authenticationFailed } from "./auth-failures";
import { bearerToken, secretsEqual } from "./credentials";

/** Operators only: `Authorization: Bearer <ADMIN_TOKEN>`. No token configured means no admin access. */
export function requireAdmin(): MiddlewareHandler<HonoEnv> {
  return async (c, next) => {
    const expected = c.get("config").adminToken;
    const given = bearerToken(c.req.header("Authorization"));
    if (!given || !expected || !(await secretsEqual(given, expected))) {
      return authenticationFailed(c);
    }
    await next();
  };
}
