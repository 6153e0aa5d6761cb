import { Webhook } from "standardwebhooks";
import { describe, expect, expectTypeOf, it } from "vitest";
import { verifyWebhook, type WebhookEvent, WebhookVerificationError } from "../../client/webhooks";
import { budgetAlertBody, endpointDisabledBody } from "../../src/core/webhooks/payload";
import { newWebhookSecret, signedHeaders } from "../../src/core/webhooks/signing";

/** The client's `verifyWebhook` against what the proxy and the standardwebhooks package sign. */
describe("verifyWebhook", () => {
  const body = JSON.stringify({ type: "job.completed", timestamp: "t", data: { id: "job-1" } });
  const nowS = () => Math.floor(Date.now() / 1000);

  it("accepts what the proxy signs, with either secret during a rotation", async () => {
    const [current, previous] = [newWebhookSecret(), newWebhookSecret()];
    const headers = await signedHeaders([current, previous], "msg_1", nowS(), body);
    expect(await verifyWebhook(current, headers, body)).toMatchObject({ type: "job.completed" });
    expect(await verifyWebhook(previous, new Headers(headers), body)).toMatchObject({
      data: { id: "job-1" },
    });
  });

  it("accepts what the standardwebhooks package signs", async () => {
    const secret = newWebhookSecret();
    const signature = new Webhook(secret).sign("msg_2", new Date(), body);
    const headers = {
      "webhook-id": "msg_2",
      "webhook-timestamp": String(nowS()),
      "webhook-signature": signature,
    };
    expect(await verifyWebhook(secret, headers, body)).toMatchObject({ type: "job.completed" });
  });

  it("refuses another secret, a changed body, an old timestamp or missing headers", async () => {
    const secret = newWebhookSecret();
    const headers = await signedHeaders([secret], "msg_3", nowS(), body);
    await expect(verifyWebhook(newWebhookSecret(), headers, body)).rejects.toThrow(
      WebhookVerificationError,
    );
    await expect(verifyWebhook(secret, headers, `${body} `)).rejects.toThrow(
      WebhookVerificationError,
    );
    const old = await signedHeaders([secret], "msg_3", nowS() - 600, body);
    await expect(verifyWebhook(secret, old, body)).rejects.toThrow(/too old/);
    await expect(verifyWebhook(secret, { "webhook-id": "msg_3" }, body)).rejects.toThrow(/missing/);
    await expect(
      verifyWebhook(secret, { ...headers, "webhook-signature": "v1,!!! v2,abc" }, body),
    ).rejects.toThrow(/no signature/);
  });
});

describe("the client's webhook events", () => {
  it("are the proxy's bodies, told apart by `type`", async () => {
    const secret = newWebhookSecret();
    const at = new Date();
    const bodies = [
      budgetAlertBody(
        {
          tenantId: "tnt_1",
          subject: "user-1",
          month: "2026-12",
          percent: 80,
          pagesPerMonth: 10,
          pagesUsed: 8,
        },
        at,
      ),
      endpointDisabledBody({ id: "ep_1", url: "https://hooks.example.com/a" }, "410", at),
    ];
    const seen: string[] = [];
    for (const [index, text] of bodies.entries()) {
      const headers = await signedHeaders([secret], `msg_${index}`, nowS(), text);
      const event: WebhookEvent = await verifyWebhook(secret, headers, text);
      // Narrowed by `type`: each branch reads its own data, typed.
      if (event.type === "budget.threshold") {
        expectTypeOf(event.data.percent).toEqualTypeOf<80 | 100>();
        seen.push(`${event.data.scope} ${event.data.sub} ${event.data.percent}`);
      } else if (event.type === "webhook.disabled") {
        seen.push(`${event.data.id} ${event.data.url}`);
      }
    }
    expect(seen).toEqual(["end_user user-1 80", "ep_1 https://hooks.example.com/a"]);
  });
});

const nowS = () => Math.floor(Date.now() / 1000);
