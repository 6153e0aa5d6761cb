import { inject } from "vitest";
import { jsonBody, proxyFetch, type TestTenant } from "./helpers";

/**
 * The real HTTP receiver the webhook tests deliver to (dev/webhook-receiver.ts, started by the
 * global setup): what a hook name received, and a tenant's endpoint registered at it.
 */
export const receiver = inject("webhookReceiverOrigin");

export interface Received {
  at: number;
  headers: Record<string, string>;
  body: string;
}

export interface Endpoint {
  id: string;
  url: string;
  events: string[];
  secret: string;
  disabled: boolean;
}

/** Every delivery the receiver's hook `name` took, oldest first. */
export async function received(name: string): Promise<Received[]> {
  const response = await fetch(`${receiver}/__control/hooks/${name}`);
  return ((await response.json()) as { deliveries: Received[] }).deliveries;
}

/** Registers the receiver's hook `name` as an endpoint of `tenant` (201 expected). */
export async function register(
  tenant: TestTenant,
  name: string,
  events?: string[],
): Promise<Endpoint> {
  const response = await proxyFetch(
    "/webhooks",
    tenant.auth(jsonBody({ url: `${receiver}/hooks/${name}`, events })),
  );
  if (response.status !== 201) {
    throw new Error(`registering ${name}: ${response.status} ${await response.text()}`);
  }
  return (await response.json()) as Endpoint;
}
