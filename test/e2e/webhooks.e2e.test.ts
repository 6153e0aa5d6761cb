import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_API_KEY } from "../../dev/seed";
import { type DevStack, startDevStack } from "../../dev/stack";
import {
  type ReceivedDelivery,
  startWebhookReceiver,
  type WebhookReceiver,
} from "../../dev/webhook-receiver";
import { writeTestVars } from "./test-stack";

/**
 * A delivery's state lives in the tenant's outbox (Durable Object storage and its alarm), so a
 * retry survives the proxy going away: `wrangler dev` is stopped between two attempts and started
 * again on the same persisted state, and the retry arrives with the same webhook-id.
 */
describe("webhook retries across a restart of the local stack", () => {
  let workDir: string;
  let receiver: WebhookReceiver;
  let stack: DevStack | undefined;
  const received = new Map<string, ReceivedDelivery[]>();

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "waveline-webhooks-"));
    receiver = await startWebhookReceiver({
      onDelivery: (name, delivery) => received.set(name, [...(received.get(name) ?? []), delivery]),
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("delivers on the attempt after the restart, with the same webhook-id", async () => {
    // Long enough to stop and start wrangler between the first attempt and the retry.
    const { file, vars } = await writeTestVars(workDir, { WEBHOOK_RETRY_DELAYS_S: "30" });
    const start = () => startDevStack({ vars, envFile: file, persistTo: join(workDir, "state") });
    stack = await start();
    const call = (path: string, body?: unknown) =>
      fetch(`${stack?.proxyUrl}${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: { Authorization: `Bearer ${DEV_API_KEY}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    await fetch(`${receiver.origin}/__control/hooks/restart`, {
      method: "PUT",
      body: JSON.stringify({ responses: [{ status: 503 }] }),
    });
    const registered = await call("/webhooks", { url: `${receiver.origin}/hooks/restart` });
    expect(registered.status).toBe(201);
    const { id: endpointId, secret } = (await registered.json()) as { id: string; secret: string };
    const created = await call("/extract-document", {
      fileName: "restart.txt",
      contentType: "text/plain",
      content: "Invoice INV-3",
    });
    expect(created.status).toBe(201);
    const { id: jobId } = (await created.json()) as { id: string };

    await waitFor(() => (received.get("restart")?.length ?? 0) >= 1, 30_000);
    await stack.stop();
    stack = undefined;
    stack = await start();
    const restartedAt = Date.now();
    expect(received.get("restart")).toHaveLength(1);

    await waitFor(() => (received.get("restart")?.length ?? 0) >= 2, 60_000);
    const [first, second] = received.get("restart") ?? [];
    expect(second?.at).toBeGreaterThan(restartedAt);
    expect(second?.headers["webhook-id"]).toBe(first?.headers["webhook-id"]);
    const event = new Webhook(secret).verify(second?.body ?? "", second?.headers ?? {}) as {
      type: string;
      data: { id: string };
    };
    expect(event).toMatchObject({ type: "job.completed", data: { id: jobId } });

    const log = (await (await call(`/webhooks/${endpointId}/deliveries`)).json()) as {
      items: { state: string; attempts: number }[];
    };
    expect(log.items[0]).toMatchObject({ state: "delivered", attempts: 2 });
  }, 120_000);
});

async function waitFor(done: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
