import { type Context, Hono, type MiddlewareHandler } from "hono";
import * as z from "zod/mini";
import { type AuditEntry, keyActor } from "../../core/audit/log";
import { describeError } from "../../core/errors";
import type { Services } from "../../core/services";
import { withTimeout } from "../../core/timeout";
import {
  MAX_ENDPOINTS,
  REDELIVERIES_PER_HOUR,
  type WebhookOutbox,
} from "../../core/webhooks/outbox";
import { WEBHOOK_EVENTS } from "../../core/webhooks/payload";
import { checkWebhookUrl } from "../../core/webhooks/url";
import type { AppEnv } from "../context";
import { fail } from "../errors";
import { describeRoute, type RouteDoc } from "../openapi/describe";
import {
  newWebhookEndpoint,
  rotatedSecret,
  webhookDelivery,
  webhookDeliveryList,
  webhookEndpoint,
  webhookEndpointList,
} from "../openapi/webhooks";
import { limitReads } from "../rate-limit";
import { authenticate } from "../tenant-auth";
import { validate } from "../validate";

/**
 * Webhook endpoints of a tenant: registered, listed, rotated and inspected with the tenant's API key
 * (`/webhooks…`), or by an operator (`/admin/tenants/{id}/webhooks…`). The endpoints and their
 * deliveries live in the tenant's outbox (core/webhooks/outbox.ts; a Durable Object per tenant on
 * Workers, src/platform/cloudflare/webhook-outbox.ts).
 */
interface WebhookScope {
  /** What comes before `/webhooks`: "" or `/tenants/:id`. */
  base: string;
  /** Authorises the caller for the tenant (every route of the scope). */
  // biome-ignore lint/suspicious/noExplicitAny: the guards add their own variables (a principal)
  guard: MiddlewareHandler<any>[];
  // biome-ignore lint/suspicious/noExplicitAny: read from what the guards set
  tenantId(c: Context<any>): string;
  /** Who makes the changes, for the audit log: the admin credential or the tenant's key. */
  // biome-ignore lint/suspicious/noExplicitAny: read from what the guards set
  actor(c: Context<any>): string;
  /** The parts of each route's document that depend on the scope. */
  doc: Pick<RouteDoc, "tag" | "auth"> & { errors: RouteDoc["errors"]; idPrefix: string };
}

/** Another tenant's endpoint answers exactly like one that does not exist. */
const WEBHOOK_NOT_FOUND = "webhook not found";
const OUTBOX_TIMEOUT_MS = 5_000;

const idParam = z.string().check(z.minLength(1), z.maxLength(64));
const createSchema = z.object({
  url: z
    .string()
    .check(
      z.describe("https, a public host, no credentials; redirects are not followed"),
      z.meta({ examples: ["https://hooks.example.com/waveline"] }),
    ),
  events: z._default(
    z
      .array(z.enum(WEBHOOK_EVENTS))
      .check(
        z.minLength(1, { error: "must name at least one event" }),
        z.describe("the events this endpoint receives (all by default)"),
      ),
    [...WEBHOOK_EVENTS],
  ),
});

export function webhookRoutes(services: Services, scope: WebhookScope): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const path = `${scope.base}/webhooks`;
  routes.use(path, ...scope.guard);
  routes.use(`${path}/*`, ...scope.guard);
  const describe = (
    operationId: string,
    summary: string,
    description: string,
    responses: RouteDoc["responses"],
    errors: RouteDoc["errors"] = {},
  ) =>
    describeRoute(
      globalThis.OPENAPI && {
        operationId: scope.doc.idPrefix
          ? `${scope.doc.idPrefix}${operationId.charAt(0).toUpperCase()}${operationId.slice(1)}`
          : operationId,
        summary,
        description,
        tag: scope.doc.tag,
        auth: scope.doc.auth,
        responses,
        errors: { ...scope.doc.errors, ...errors },
      },
    );
  const outbox = (c: Context<AppEnv>): WebhookOutbox => {
    if (!services.webhooks)
      fail("webhooks_unavailable", "webhooks are not available on this runtime");
    return services.webhooks.of(scope.tenantId(c));
  };
  const notFound = { webhook_not_found: "no such endpoint, or another tenant's" };
  /**
   * The audit entry of a change that succeeded. Endpoints live in the tenant's outbox, not in D1,
   * so the entry cannot share the change's transaction: it is written right after, and a failure
   * to write it is logged as an alert rather than undoing the change.
   */
  const audit = async (
    c: Context<AppEnv>,
    entry: Omit<AuditEntry, "at" | "actor" | "target"> & { target: AuditEntry["target"] },
  ) => {
    try {
      await services.audit.record({ ...entry, actor: scope.actor(c) });
    } catch (err) {
      c.var.log.alert("audit entry not written", {
        action: entry.action,
        target: entry.target,
        error: describeError(err),
      });
    }
  };

  routes.post(
    path,
    describe(
      "createWebhook",
      "Register a webhook endpoint",
      "The endpoint receives the `events` it names (all by default), signed per Standard Webhooks with the secret: the document's `webhooks` shows each.",
      {
        201: {
          description: "the endpoint and its secret (shown only now)",
          body: newWebhookEndpoint,
          headers: ["Cache-Control"],
        },
      },
      {
        invalid_request:
          "a body field breaks its rule: the URL is not https, not a public host, or carries credentials",
        webhook_endpoint_limit: `the tenant has ${MAX_ENDPOINTS} endpoints already`,
      },
    ),
    validate("json", createSchema),
    async (c) => {
      const { url, events } = c.req.valid("json");
      const checked = checkWebhookUrl(url, services.config.webhooksAllowLocalUrls);
      if (!checked.ok) fail("invalid_request", `url ${checked.problem}`);
      const created = await call(c, () => outbox(c).createEndpoint(checked.url, events));
      if (!created)
        fail("webhook_endpoint_limit", `at most ${MAX_ENDPOINTS} webhook endpoints per tenant`);
      await audit(c, {
        action: "webhook.create",
        target: { tenantId: scope.tenantId(c), webhookId: created.id },
        before: null,
        after: created,
      });
      return c.json(created, 201, { "Cache-Control": "no-store" });
    },
  );

  routes.get(
    path,
    describe(
      "listWebhooks",
      "List webhook endpoints",
      "Every endpoint of the tenant, without their secrets.",
      {
        200: { description: "the tenant's endpoints, without secrets", body: webhookEndpointList },
      },
    ),
    async (c) => c.json({ items: await call(c, () => outbox(c).listEndpoints()) }),
  );

  const endpointParams = validate("param", z.object({ webhookId: idParam }));
  routes.get(
    `${path}/:webhookId`,
    describe(
      "getWebhook",
      "Read a webhook endpoint",
      "One endpoint, without its secret; another tenant's answers like one that does not exist.",
      { 200: { description: "the endpoint, without its secret", body: webhookEndpoint } },
      notFound,
    ),
    endpointParams,
    async (c) => {
      const { webhookId } = c.req.valid("param");
      const found = await call(c, () => outbox(c).getEndpoint(webhookId));
      return found ? c.json(found) : fail("webhook_not_found", WEBHOOK_NOT_FOUND);
    },
  );

  routes.delete(
    `${path}/:webhookId`,
    describe(
      "deleteWebhook",
      "Delete a webhook endpoint",
      "The endpoint and its pending deliveries are gone: nothing more is sent to it.",
      { 204: { description: "deleted, with its pending deliveries" } },
      notFound,
    ),
    endpointParams,
    async (c) => {
      const { webhookId } = c.req.valid("param");
      const before = await call(c, () => outbox(c).getEndpoint(webhookId));
      const deleted = before && (await call(c, () => outbox(c).deleteEndpoint(webhookId)));
      if (!deleted) fail("webhook_not_found", WEBHOOK_NOT_FOUND);
      await audit(c, {
        action: "webhook.delete",
        target: { tenantId: scope.tenantId(c), webhookId },
        before,
        after: null,
      });
      return c.body(null, 204);
    },
  );

  routes.post(
    `${path}/:webhookId/rotate-secret`,
    describe(
      "rotateWebhookSecret",
      "Rotate a webhook endpoint's secret",
      "A new secret, shown once; until `previousSecretExpiresAt` every delivery is signed with the old one as well, so the receiver can switch without missing any.",
      {
        200: {
          description: "the new secret (shown only now); the old one signs beside it for 24 h",
          body: rotatedSecret,
          headers: ["Cache-Control"],
        },
      },
      notFound,
    ),
    endpointParams,
    async (c) => {
      const { webhookId } = c.req.valid("param");
      const rotated = await call(c, () => outbox(c).rotateSecret(webhookId));
      if (!rotated) fail("webhook_not_found", WEBHOOK_NOT_FOUND);
      await audit(c, {
        action: "webhook.rotate_secret",
        target: { tenantId: scope.tenantId(c), webhookId },
        before: null,
        after: rotated,
      });
      return c.json(rotated, 200, { "Cache-Control": "no-store" });
    },
  );

  routes.get(
    `${path}/:webhookId/deliveries`,
    describe(
      "listWebhookDeliveries",
      "Recent deliveries to a webhook endpoint",
      "The endpoint's deliveries, newest first: each with its attempts, last status and next attempt.",
      {
        200: {
          description: "the last 100 deliveries (3 days at most), newest first",
          body: webhookDeliveryList,
        },
      },
      notFound,
    ),
    endpointParams,
    async (c) => {
      const { webhookId } = c.req.valid("param");
      const items = await call(c, () => outbox(c).deliveries(webhookId));
      return items ? c.json({ items }) : fail("webhook_not_found", WEBHOOK_NOT_FOUND);
    },
  );

  routes.post(
    `${path}/:webhookId/deliveries/:deliveryId/redeliver`,
    describe(
      "redeliverWebhook",
      "Send a delivery again",
      "Sends the delivery again now, with the same `webhook-id` (a receiver that saw it drops the duplicate), and enables the endpoint again if it was disabled.",
      {
        200: {
          description:
            "the delivery, due now with the same `webhook-id`: one attempt more, counted with its earlier ones (a delivery whose retries were spent fails again if it fails); re-enables a disabled endpoint",
          body: webhookDelivery,
        },
      },
      {
        webhook_not_found: "no such endpoint, or another tenant's, or no such delivery of it",
        too_many_redeliveries: `this endpoint had ${REDELIVERIES_PER_HOUR} redeliveries in the last hour: \`Retry-After\` says when the next is allowed`,
      },
    ),
    validate("param", z.object({ webhookId: idParam, deliveryId: idParam })),
    async (c) => {
      const { webhookId, deliveryId } = c.req.valid("param");
      const redelivery = await call(c, () => outbox(c).redeliver(webhookId, deliveryId));
      switch (redelivery.kind) {
        case "redelivered":
          await audit(c, {
            action: "webhook.redeliver",
            target: { tenantId: scope.tenantId(c), webhookId, deliveryId },
            before: null,
            after: { state: redelivery.delivery.state, attempts: redelivery.delivery.attempts },
          });
          return c.json(redelivery.delivery);
        case "not-found":
          return fail("webhook_not_found", WEBHOOK_NOT_FOUND);
        case "limited":
          return fail(
            "too_many_redeliveries",
            `at most ${REDELIVERIES_PER_HOUR} redeliveries an hour per webhook endpoint`,
            { "Retry-After": String(redelivery.retryAfterS) },
          );
      }
    },
  );
  return routes;
}

/** The outbox's answer; an outbox that fails or stalls is a 503, never a wrong 404. */
async function call<T>(c: Context<AppEnv>, method: () => Promise<T> | T): Promise<T> {
  try {
    return await withTimeout(Promise.resolve(method()), OUTBOX_TIMEOUT_MS);
  } catch (err) {
    c.var.log.error("webhook outbox unavailable", { error: describeError(err) });
    fail("webhooks_unavailable", "webhooks are unavailable, retry later", { "Retry-After": "5" });
  }
}

/** The tenant's own endpoints, with its API key (a browser token is refused with 403). */
export function webhookRoutesOfTenant(services: Services): Hono<AppEnv> {
  return webhookRoutes(services, {
    base: "",
    guard: [
      authenticate(services, { apiKeyOnly: true, scope: "webhooks:manage" }),
      limitReads(services),
    ],
    tenantId: (c) => c.var.principal.tenant.id,
    actor: (c) => keyActor(c.var.principal.keyId),
    doc: {
      tag: "webhooks",
      auth: "api-key",
      idPrefix: "",
      errors: {
        scope_missing: "the API key lacks the `webhooks:manage` scope",
        webhooks_unavailable:
          "the webhook outbox is unavailable: retry after `Retry-After` seconds",
      },
    },
  });
}
