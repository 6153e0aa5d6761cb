import type { WebhookEvent } from "./payload";

/** An endpoint as its tenant sees it: never its secret, which is shown at creation and rotation only. */
export interface WebhookEndpoint {
  id: string;
  url: string;
  events: WebhookEvent[];
  /** Set when the receiver answered 410 Gone: nothing more is sent to it. */
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
  jobId: string;
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
  redeliver(endpointId: string, deliveryId: string): Promise<WebhookDelivery | null>;
  /**
   * A job was created: when the tenant has an enabled endpoint, the job is watched to its end
   * (whether or not anyone reads it) and its outcome delivered. `self` is its URL on the proxy.
   */
  watchJob(tenantId: string, jobId: string, self: string): Promise<boolean>;
}

export interface WebhookOutboxes {
  of(tenantId: string): WebhookOutbox;
}
