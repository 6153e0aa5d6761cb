import type { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import type { Services } from "../../../core/services";
import { adminActorOf } from "../../admin-auth";
import type { AppEnv } from "../../context";
import { fail } from "../../errors";
import { STORAGE_UNAVAILABLE } from "../../openapi/describe";
import { webhookRoutes } from "../webhooks";

/** Operators see and manage any tenant's webhook endpoints (`npm run admin -- webhooks …`). */
export function adminWebhooksRoutes(services: Services): Hono<AppEnv> {
  /** The tenant of the path must exist: its endpoints are then managed as the tenant would. */
  const tenantExists = createMiddleware<AppEnv>(async (c, next) => {
    const id = c.req.param("id") ?? "";
    if (id.length > 64 || !(await services.tenants.getTenant(id)))
      fail("tenant_not_found", "tenant not found");
    await next();
  });
  return webhookRoutes(services, {
    base: "/tenants/:id",
    guard: [tenantExists],
    tenantId: (c) => c.req.param("id") ?? "",
    actor: (c) => adminActorOf(c).actor,
    doc: {
      tag: "admin: webhooks",
      auth: "admin",
      idPrefix: "admin",
      errors: {
        tenant_not_found: "no such tenant",
        ...STORAGE_UNAVAILABLE,
        webhooks_unavailable:
          "the webhook outbox is unavailable: retry after `Retry-After` seconds",
      },
    },
  });
}
