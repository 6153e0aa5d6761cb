import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { webhookBody } from "../../src/core/webhooks/payload";
import { DEFAULT_RETRY_DELAYS_S, retryDelayMs } from "../../src/core/webhooks/schedule";
import { newWebhookSecret, signedHeaders } from "../../src/core/webhooks/signing";
import { checkWebhookUrl, isPublicIpv4, isPublicIpv6 } from "../../src/core/webhooks/url";

/** The webhook rules that need no binding: URLs, signatures, the retry schedule, the body. */

describe("checkWebhookUrl", () => {
  it.each([
    "https://hooks.example.com/waveline",
    "https://hooks.example.com:8443/x?tenant=1",
    "https://8.8.8.8/x",
    "https://[2606:4700:4700::1111]/x",
  ])("accepts %s", (url) => {
    expect(checkWebhookUrl(url, false)).toEqual({ ok: true, url: new URL(url).href });
  });

  it.each([
    ["http://hooks.example.com/x", "must be an https URL"],
    ["https://user:pw@hooks.example.com/x", "must not carry credentials"],
    ["https://localhost/x", "must be a public host"],
    ["https://localhost./x", "must be a public host"],
    ["https://a.b.localhost/x", "must be a public host"],
    ["https://metadata.google.internal/x", "must be a public host"],
    ["https://printer.local/x", "must be a public host"],
    ["https://intranet/x", "must be a public host"],
    ["https://0x7f.1/x", "must be a public host"],
    ["https://017700000001/x", "must be a public host"],
    ["https://0.0.0.0/x", "must be a public host"],
    ["https://169.254.169.254/x", "must be a public host"],
    ["https://100.100.100.200/x", "must be a public host"],
    ["https://[::]/x", "must be a public host"],
    ["https://[::1]/x", "must be a public host"],
    ["https://[fc00::1]/x", "must be a public host"],
    ["https://[fe80::1%25eth0]/x", "must be an absolute https URL"],
    ["https://[ff02::1]/x", "must be a public host"],
    ["https://[::ffff:10.0.0.1]/x", "must be a public host"],
    ["https://[::ffff:8.8.8.8]/x", "must be a public host"],
    ["https://[64:ff9b::a9fe:a9fe]/x", "must be a public host"],
    ["https://[2001:db8::1]/x", "must be a public host"],
    ["https://[2002:7f00:1::]/x", "must be a public host"],
    [`https://hooks.example.com/${"a".repeat(2100)}`, "must be at most 2048 characters"],
  ])("refuses %s: %s", (url, problem) => {
    expect(checkWebhookUrl(url, false)).toEqual({ ok: false, problem });
  });

  it("allows this machine's loopback over http only with the development switch", () => {
    for (const url of ["http://127.0.0.1:9000/hook", "http://localhost:9000/hook"]) {
      expect(checkWebhookUrl(url, true).ok).toBe(true);
      expect(checkWebhookUrl(url, false).ok).toBe(false);
    }
    expect(checkWebhookUrl("http://192.168.1.2:9000/hook", true).ok).toBe(false);
    expect(checkWebhookUrl("http://[::1]:9000/hook", true).ok).toBe(false);
  });

  it("classifies addresses at the edges of private ranges", () => {
    expect(isPublicIpv4("172.15.255.255")).toBe(true);
    expect(isPublicIpv4("172.16.0.0")).toBe(false);
    expect(isPublicIpv4("172.31.255.255")).toBe(false);
    expect(isPublicIpv4("172.32.0.0")).toBe(true);
    expect(isPublicIpv4("100.63.255.255")).toBe(true);
    expect(isPublicIpv4("100.127.255.255")).toBe(false);
    expect(isPublicIpv4("255.255.255.255")).toBe(false);
    expect(isPublicIpv6("2a00:1450:4001::200e")).toBe(true);
    expect(isPublicIpv6("fd00:ec2::254")).toBe(false);
    expect(isPublicIpv6("2001:db8::1")).toBe(false);
  });
});

describe("signedHeaders", () => {
  it("signs per Standard Webhooks: the standardwebhooks package verifies with each secret", async () => {
    const [current, previous] = [newWebhookSecret(), newWebhookSecret()];
    const body = JSON.stringify({ type: "job.completed" });
    const headers = await signedHeaders(
      [current, previous],
      "msg_1",
      Math.floor(Date.now() / 1000),
      body,
    );
    expect(headers["webhook-signature"]).toMatch(/^v1,\S+ v1,\S+$/);
    expect(new Webhook(current).verify(body, headers)).toEqual({ type: "job.completed" });
    expect(new Webhook(previous).verify(body, headers)).toEqual({ type: "job.completed" });
    expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(current).verify(`${body} `, headers)).toThrow();
  });

  it("matches the package's own signature byte for byte", async () => {
    const secret = newWebhookSecret();
    const at = new Date(1_790_000_000_000);
    const headers = await signedHeaders([secret], "msg_2", 1_790_000_000, "{}");
    expect(headers["webhook-signature"]).toBe(new Webhook(secret).sign("msg_2", at, "{}"));
  });
});

describe("retryDelayMs", () => {
  it("follows the spec's schedule with ±10 % jitter, for about three days", () => {
    expect(retryDelayMs(1, DEFAULT_RETRY_DELAYS_S, null, 0, () => 0)).toBe(4_500);
    expect(retryDelayMs(1, DEFAULT_RETRY_DELAYS_S, null, 0, () => 1)).toBe(5_500);
    expect(retryDelayMs(2, DEFAULT_RETRY_DELAYS_S, null, 0, () => 0.5)).toBe(300_000);
    const totalH = DEFAULT_RETRY_DELAYS_S.reduce((sum, s) => sum + s, 0) / 3600;
    expect(totalH).toBeGreaterThan(60);
    expect(totalH).toBeLessThan(72);
    expect(retryDelayMs(DEFAULT_RETRY_DELAYS_S.length + 1, DEFAULT_RETRY_DELAYS_S)).toBeUndefined();
  });

  it("waits at least the receiver's Retry-After, in seconds or as a date, at most a day", () => {
    const half = () => 0.5;
    expect(retryDelayMs(1, [5], "120", 0, half)).toBe(120_000);
    expect(retryDelayMs(1, [5], "1", 0, half)).toBe(5_000);
    expect(retryDelayMs(1, [5], new Date(60_000).toUTCString(), 0, half)).toBe(60_000);
    expect(retryDelayMs(1, [5], "999999999", 0, half)).toBe(86_400_000);
    expect(retryDelayMs(1, [5], "soon", 0, half)).toBe(5_000);
  });
});

describe("webhookBody", () => {
  it("carries the job without its result, urls.get on the proxy", () => {
    const body = webhookBody(
      "job.completed",
      {
        id: "job-1",
        status: "COMPLETED",
        result: { secret: "data" },
        urls: { get: "https://waveline.ai/api/v1/jobs/job-1" },
      } as { id: string; urls: object; result: unknown },
      "https://proxy.example/api/v1/jobs/job-1",
      new Date(0),
    );
    expect(JSON.parse(body)).toEqual({
      type: "job.completed",
      timestamp: "1970-01-01T00:00:00.000Z",
      data: {
        id: "job-1",
        status: "COMPLETED",
        urls: { get: "https://proxy.example/api/v1/jobs/job-1" },
      },
    });
  });
});
