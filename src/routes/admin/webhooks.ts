import type { MiddlewareHandler } from "hono";
import type { HonoEnv } from "../../env";
import { fail } from "../../http/errors";
import { ADMIN_AUTH_ERRORS, STORAGE_UNAVAILABLE } from "../../openapi/describe";
import { webhookRoutes } from "../webhooks";

/** The tenant of the path must exist: its endpoints are then managed as the tenant would. */
const tenantExists: MiddlewareHandler<HonoEnv> = async (c, next) => {
  const id = c.req.param("id") ?? "";
  if (id.length > 64 || !(await c.get("tenantStore").getTenant(id))) fail(404, "tenant not found");
  await next();
};

/** Operators see and manage any tenant's webhook endpoints (`npm run admin -- webhooks …`). */
export const adminWebhooks = webhookRoutes({
  base: "/tenants/:id",
  guard: [tenantExists],
  tenantId: (c) => c.req.param("id") ?? "",
  doc: {
    tag: "admin: webhooks",
    auth: "admin",
    idPrefix: "admin",
    errors: {
      400: "the body or path is not valid (the message names the field)",
      ...ADMIN_AUTH_ERRORS,
      404: "`tenant not found`",
      503: `${STORAGE_UNAVAILABLE}; or the webhook outbox is unavailable`,
    },
  },
});
