import type { WebhookOutboxes } from "../../core/webhooks/outbox";
import { OBJECT_DEADLINES_MS, objectCalls } from "./object-call";

/** Each tenant's outbox, every call within `deadlineMs`. */
export function outboxCalls(
  namespace: NonNullable<Env["WEBHOOK_OUTBOX"]>,
  deadlineMs: number = OBJECT_DEADLINES_MS.outbox,
) {
  return objectCalls(namespace, "webhook outbox", deadlineMs);
}

/** The outboxes as the core sees them: one object per tenant. */
export function durableOutboxes(namespace: NonNullable<Env["WEBHOOK_OUTBOX"]>): WebhookOutboxes {
  return { of: outboxCalls(namespace) };
}
