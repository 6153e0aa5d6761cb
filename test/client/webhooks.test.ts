import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { verifyWebhook, WebhookVerificationError } from "../../client/webhooks";
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
