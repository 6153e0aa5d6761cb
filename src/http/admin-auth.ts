import { createMiddleware } from "hono/factory";
import type { Services } from "../core/services";
import { authenticationFailed } from "./auth-failures";
import type { AppEnv } from "./context";
import { bearerToken } from "./credentials";

/** Operators only: `Authorization: Bearer <ADMIN_TOKEN>`. No token configured means no admin access. */
export function requireAdmin(services: Services) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const expected = services.config.adminToken;
    const given = bearerToken(c.req.header("Authorization"));
    if (!given || !expected || !(await services.secretsEqual(given, expected))) {
      return authenticationFailed(services, c);
    }
    await next();
  });
}
