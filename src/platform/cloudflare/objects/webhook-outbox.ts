import { DurableObject } from "cloudflare:workers";
import type { Redelivery, WebhookDelivery, WebhookEndpoint } from "../../../core/webhooks/outbox";
import { WebhookOutboxActor } from "../../../core/webhooks/outbox-actor";
import type { WebhookEvent } from "../../../core/webhooks/payload";
import { durableObjectSql } from "../object-storage";
import { webhookOutboxServices } from "../services";

/**
 * One per tenant (named by tenant id): a shell over the core's `WebhookOutboxActor`
 * (`core/webhooks/outbox-actor.ts`), kept in this object's SQLite storage, its services built once
 * per object by the same factory as the Worker's.
 */
export class WebhookOutbox extends DurableObject<Env> {
  private readonly outbox = new WebhookOutboxActor({
    sql: durableObjectSql(this.ctx.storage),
    alarm: this.ctx.storage,
    name: this.ctx.id.name,
    services: webhookOutboxServices(this.env),
  });

  createEndpoint(url: string, events: WebhookEvent[]) {
    return this.outbox.createEndpoint(url, events);
  }

  listEndpoints(): WebhookEndpoint[] {
    return this.outbox.listEndpoints();
  }

  getEndpoint(id: string): WebhookEndpoint | null {
    return this.outbox.getEndpoint(id);
  }

  deleteEndpoint(id: string): boolean {
    return this.outbox.deleteEndpoint(id);
  }

  rotateSecret(id: string) {
    return this.outbox.rotateSecret(id);
  }

  deliveries(endpointId: string): WebhookDelivery[] | null {
    return this.outbox.deliveries(endpointId);
  }

  redeliver(endpointId: string, deliveryId: string): Promise<Redelivery> {
    return this.outbox.redeliver(endpointId, deliveryId);
  }

  watchJob(jobId: string, self: string): Promise<boolean> {
    return this.outbox.watchJob(jobId, self);
  }

  enqueue(tenantId: string, event: WebhookEvent, key: string, payload: string): Promise<number> {
    return this.outbox.enqueue(tenantId, event, key, payload);
  }

  override alarm(): Promise<void> {
    return this.outbox.alarm();
  }
}
