import { beforeAll, describe, expect, it } from "vitest";
import { asAdmin, createTenant, jsonBody, proxyFetch, type TestTenant } from "./helpers";

let acme: TestTenant;
beforeAll(async () => {
  acme = await createTenant("errors");
});

describe("a refused request body", () => {
  it.each([
    ["/tokens", { ttlSeconds: 0 }, "ttlSeconds must be at least 1"],
    ["/tokens", { ttlSeconds: 1.5 }, "ttlSeconds must be an integer"],
    ["/tokens", { ttlSeconds: "60" }, "ttlSeconds must be a number"],
    ["/tokens", { sub: "" }, "sub must be at least 1 character long"],
    ["/tokens", { sub: "a", pagesPerMonth: -1 }, "pagesPerMonth must be at least 0"],
    ["/tokens", { scopes: ["jobs:delete"] }, 'scopes.0 must be one of "jobs:read", "jobs:create"'],
    ["/tokens", [], "body must be an object"],
    ["/webhooks", {}, "url is required"],
    ["/webhooks", { url: 5 }, "url must be a string"],
    [
      "/webhooks",
      { url: "https://hooks.example.com/x", events: ["job.deleted"] },
      'events.0 must be one of "job.completed", "job.failed", "budget.threshold", "webhook.disabled"',
    ],
  ])("POST %s %j answers 400 naming the field and its rule", async (path, body, error) => {
    const response = await proxyFetch(path, acme.auth(jsonBody(body)));

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error, code: "invalid_request" });
  });

  it("names a missing field of an operator's request", async () => {
    const response = await proxyFetch("/admin/tenants", asAdmin(jsonBody({ allowedOrigins: [] })));

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "name is required", code: "invalid_request" });
  });

  it("tells malformed JSON from a field that breaks its rule", async () => {
    const response = await proxyFetch(
      "/tokens",
      acme.auth({ method: "POST", body: "{", headers: { "Content-Type": "application/json" } }),
    );

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "invalid_json" });
  });
});
