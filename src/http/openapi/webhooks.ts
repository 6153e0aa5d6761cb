import * as z from "zod/mini";
import type {
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
} from "../../core/webhooks/outbox";
import { WEBHOOK_EVENTS } from "../../core/webhooks/payload";
import { namedResponses } from "./responses";

/** The webhook routes' answers, named components of the document like those in `./responses`. */

export const webhookEndpoint = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  disabled: z.boolean().check(z.describe("the receiver answered 410 Gone: nothing more is sent")),
  createdAt: z.string(),
}) satisfies z.ZodMiniType<WebhookEndpoint>;

export const newWebhookEndpoint = z.object({
  ...webhookEndpoint.shape,
  secret: z
    .string()
    .check(z.describe("`whsec_` + base64 of 32 random bytes: shown now and never again")),
}) satisfies z.ZodMiniType<WebhookEndpointWithSecret>;

export const webhookEndpointList = z.object({ items: z.array(webhookEndpoint) });

export const rotatedSecret = z.object({
  secret: z.string().check(z.describe("the new secret: shown now and never again")),
  previousSecretExpiresAt: z
    .string()
    .check(z.describe("until then, every delivery is signed with the old secret as well")),
});

export const webhookDelivery = z.object({
  id: z.string().check(z.describe("the `webhook-id` of every attempt")),
  event: z.enum(WEBHOOK_EVENTS),
  jobId: z.nullable(z.string().check(z.describe("the job of a `job.*` event; null for others"))),
  state: z.enum(["pending", "delivered", "failed", "cancelled"]),
  attempts: z.number(),
  lastResponseCode: z.nullable(z.number()),
  lastError: z.nullable(z.string()),
  lastDurationMs: z.nullable(z.number()),
  lastAttemptAt: z.nullable(z.string()),
  nextAttemptAt: z.nullable(z.string()),
  createdAt: z.string(),
}) satisfies z.ZodMiniType<WebhookDelivery>;

export const webhookDeliveryList = z.object({ items: z.array(webhookDelivery) });

for (const [id, schema] of Object.entries({
  WebhookEndpoint: webhookEndpoint,
  NewWebhookEndpoint: newWebhookEndpoint,
  WebhookEndpointList: webhookEndpointList,
  RotatedWebhookSecret: rotatedSecret,
  WebhookDelivery: webhookDelivery,
  WebhookDeliveryList: webhookDeliveryList,
})) {
  namedResponses.add(schema, { id });
}
