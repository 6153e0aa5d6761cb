import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { adminActor } from "../core/audit/log";
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
    // A fingerprint of the credential, never the credential: which admin token made a change.
    c.set("adminActor", await adminActor(given));
    await next();
  });
}

/** The audit log's actor of an admin route (behind `requireAdmin`). */
// biome-ignore lint/suspicious/noExplicitAny: any route's context, whatever else it carries
export function adminActorOf(c: Context<any>): { actor: string } {
  const actor = c.var.adminActor;
  if (actor === undefined) throw new Error("admin route without requireAdmin");
  return { actor };
}
