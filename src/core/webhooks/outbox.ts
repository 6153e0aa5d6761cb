import type { WebhookEvent } from "./payload";

/** An endpoint as its tenant sees it: never its secret, which is shown at creation and rotation only. */
export interface WebhookEndpoint {
  id: string;
  url: string;
  events: WebhookEvent[];
  /** Set when the receiver answered 410 Gone: nothing more is sent to it (`webhook.disabled`). */
  disabled: boolean;
  createdAt: string;
}

export interface WebhookEndpointWithSecret extends WebhookEndpoint {
  secret: string;
}

export type DeliveryState = "pending" | "delivered" | "failed" | "cancelled";

export interface WebhookDelivery {
  /** The `webhook-id` of every attempt. */
  id: string;
  event: WebhookEvent;
  /** The job of a `job.*` event; null for other events. */
  jobId: string | null;
  state: DeliveryState;
  attempts: number;
  /** The receiver's last status code; null before any answer (or after a timeout or network error). */
  lastResponseCode: number | null;
  /** `timeout`, `network error`, or the status when the receiver answered something else than 2xx. */
  lastError: string | null;
  lastDurationMs: number | null;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  createdAt: string;
}

/** Per tenant, so that no tenant costs storage out of proportion. */
export const MAX_ENDPOINTS = 10;

/**
 * Redeliveries per endpoint in a sliding hour. A redelivery is a POST to a URL the tenant chose,
 * made on request: without a limit of its own the proxy would send them as fast as it is asked.
 */
export const REDELIVERIES_PER_HOUR = 30;

export type Redelivery =
  | { kind: "redelivered"; delivery: WebhookDelivery }
  | { kind: "not-found" }
  /** `REDELIVERIES_PER_HOUR` reached: the next one is allowed in `retryAfterS`. */
  | { kind: "limited"; retryAfterS: number };

/**
 * A tenant's webhook endpoints and the deliveries still to make (a Durable Object per tenant on
 * Workers). Calls may fail or stall: callers answer 503, never a wrong 404.
 */
export interface WebhookOutbox {
  /** Null when the tenant has MAX_ENDPOINTS already. */
  createEndpoint(url: string, events: WebhookEvent[]): Promise<WebhookEndpointWithSecret | null>;
  listEndpoints(): Promise<WebhookEndpoint[]>;
  getEndpoint(id: string): Promise<WebhookEndpoint | null>;
  deleteEndpoint(id: string): Promise<boolean>;
  rotateSecret(id: string): Promise<{ secret: string; previousSecretExpiresAt: string } | null>;
  deliveries(endpointId: string): Promise<WebhookDelivery[] | null>;
  /** One more attempt now, on top of the delivery's earlier ones (its schedule is not restarted). */
  redeliver(endpointId: string, deliveryId: string): Promise<Redelivery>;
  /**
   * A job was created, or given to this tenant: when the tenant has an enabled endpoint, the job
   * is watched to its end (whether or not anyone reads it) and its outcome delivered to whoever
   * owns it then. `self` is its URL on the proxy.
   */
  watchJob(jobId: string, self: string): Promise<boolean>;
}

export interface WebhookOutboxes {
  of(tenantId: string): WebhookOutbox;
}
