import { beforeAll, describe, expect, it } from "vitest";
import {
  asAdmin,
  createTenant,
  fakeWaveline,
  jsonBody,
  mintToken,
  ownedJobId,
  proxyFetch,
  type TestTenant,
  uniqueJobId,
  withBearer,
} from "./helpers";

const SHOP = "https://shop.example";
const SHOP_DEV = "http://localhost:5173";
const OTHER = "https://other.example";
const UNKNOWN = "https://unknown.example";
const DOCUMENT = { fileName: "a.txt", contentType: "text/plain", content: "hello" };
const ORIGIN_NOT_ALLOWED = {
  error: "this Origin is not one of the tenant's allowed origins",
  code: "origin_not_allowed",
};

let shop: TestTenant;
let other: TestTenant;
beforeAll(async () => {
  shop = await createTenant("shop", [SHOP, SHOP_DEV]);
  other = await createTenant("other", [OTHER]);
});

/** What a browser sends before a cross-origin request with an Authorization header. */
function preflight(path: string, origin: string, method = "GET"): Promise<Response> {
  return proxyFetch(path, {
    method: "OPTIONS",
    headers: {
      Origin: origin,
      "Access-Control-Request-Method": method,
      "Access-Control-Request-Headers": "authorization,content-type",
    },
  });
}

function fromOrigin(origin: string, init: RequestInit = {}): RequestInit {
  const headers = new Headers(init.headers);
  headers.set("Origin", origin);
  return { ...init, headers };
}

/** An origin no other test uses, so changing who lists it affects nothing else. */
function freshOrigin(label: string): string {
  return `https://${label}-${crypto.randomUUID().slice(0, 8)}.example`;
}

function listOf(header: string | null): string[] {
  return (header ?? "").split(",").map((item) => item.trim().toLowerCase());
}

/** A response a browser at `origin` may read: allowed, without credentials, cache-safe. */
function expectReadableFrom(response: Response, origin: string): void {
  expect(response.headers.get("Access-Control-Allow-Origin")).toBe(origin);
  expect(response.headers.get("Access-Control-Allow-Credentials")).toBeNull();
  expect(listOf(response.headers.get("Vary"))).toContain("origin");
  expect(listOf(response.headers.get("Access-Control-Expose-Headers"))).toContain("x-request-id");
}

describe("preflight", () => {
  it("answers 204 with the origin allowed when a tenant lists it, without any credential", async () => {
    const response = await preflight("/jobs/some-job", SHOP);

    expect(response.status).toBe(204);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(SHOP);
  });

  it.each([
    ["/jobs/some-job", "GET"],
    ["/jobs", "GET"],
    ["/extract-document", "POST"],
    ["/guess-shape", "POST"],
    ["/tokens", "POST"],
    ["/api/v1/jobs/some-job", "GET"],
    ["/api/v1/extract-document", "POST"],
  ])("answers a preflight for %s %s", async (path, method) => {
    const response = await preflight(path, OTHER, method);

    expect(response.status).toBe(204);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(OTHER);
  });

  it("allows GET and POST with Authorization and Content-Type", async () => {
    const response = await preflight("/extract-document", SHOP, "POST");

    expect(listOf(response.headers.get("Access-Control-Allow-Methods"))).toEqual(
      expect.arrayContaining(["get", "post"]),
    );
    expect(listOf(response.headers.get("Access-Control-Allow-Headers"))).toEqual(
      expect.arrayContaining(["authorization", "content-type"]),
    );
  });

  it("answers an origin no tenant lists too, without a lookup: the real request decides", async () => {
    const response = await preflight("/jobs/some-job", UNKNOWN);

    expect(response.status).toBe(204);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(UNKNOWN);
  });

  it.each([
    ["the literal null", "null"],
    ["a trailing slash", "https://shop.example/"],
    ["a path", "https://shop.example/app"],
    ["another scheme than http(s)", "file://shop.example"],
    ["no scheme", "shop.example"],
  ])("does not allow what no browser sends as a page's origin: %s", async (_, origin) => {
    const response = await preflight("/jobs/some-job", origin);

    expect(response.status).toBe(204);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });

  it("never allows credentials (cookies)", async () => {
    const response = await preflight("/jobs/some-job", SHOP);

    expect(response.headers.get("Access-Control-Allow-Credentials")).toBeNull();
  });

  it("varies on Origin", async () => {
    const response = await preflight("/jobs/some-job", SHOP);

    expect(listOf(response.headers.get("Vary"))).toContain("origin");
  });
});

describe("real requests from a browser", () => {
  it("serves a job to an API key from one of its tenant's origins, readable there", async () => {
    const id = await ownedJobId(shop, "key-own-origin");

    const response = await proxyFetch(`/jobs/${id}`, shop.auth(fromOrigin(SHOP)));

    expect(response.status).toBe(200);
    expectReadableFrom(response, SHOP);
  });

  it("serves a job to a browser token from another of its tenant's origins", async () => {
    const id = await ownedJobId(shop, "token-own-origin");
    const token = await mintToken(shop);

    const response = await proxyFetch(`/jobs/${id}`, withBearer(token, fromOrigin(SHOP_DEV)));

    expect(response.status).toBe(200);
    expectReadableFrom(response, SHOP_DEV);
  });

  it("creates a job for a browser token from its tenant's origin", async () => {
    const token = await mintToken(shop, { scopes: ["jobs:create"] });

    const response = await proxyFetch(
      "/extract-document",
      withBearer(token, jsonBody(DOCUMENT, fromOrigin(SHOP))),
    );

    expect(response.status).toBe(201);
    expectReadableFrom(response, SHOP);
    expect(listOf(response.headers.get("Access-Control-Expose-Headers"))).toContain("location");
  });

  it("refuses a token from an origin only another tenant lists: 403 without CORS headers, no upstream call", async () => {
    const id = await ownedJobId(shop, "other-origin");
    const token = await mintToken(shop);

    const response = await proxyFetch(`/jobs/${id}`, withBearer(token, fromOrigin(OTHER)));

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(ORIGIN_NOT_ALLOWED);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
    expect(await fakeWaveline.calls(id)).toHaveLength(0);
  });

  it.each([
    ["another scheme", "http://shop.example"],
    ["another port", "https://shop.example:8443"],
    ["a subdomain", "https://evil.shop.example"],
    ["a longer host", "https://shop.example.evil.com"],
    ["another case", "https://SHOP.example"],
  ])("refuses a look-alike origin with %s: 403 without CORS headers", async (_, origin) => {
    const id = await ownedJobId(shop, "look-alike");

    const response = await proxyFetch(`/jobs/${id}`, shop.auth(fromOrigin(origin)));

    expect(response.status).toBe(403);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
    expect(await fakeWaveline.calls(id)).toHaveLength(0);
  });

  it("refuses an API key from an origin only another tenant lists: 403", async () => {
    const id = await ownedJobId(shop, "key-other-origin");

    const response = await proxyFetch(`/jobs/${id}`, shop.auth(fromOrigin(OTHER)));

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(ORIGIN_NOT_ALLOWED);
    expect(await fakeWaveline.calls(id)).toHaveLength(0);
  });

  it("refuses a token from an origin no tenant lists: 403 without CORS headers", async () => {
    const id = await ownedJobId(shop, "unknown-origin");
    const token = await mintToken(shop);

    const response = await proxyFetch(`/jobs/${id}`, withBearer(token, fromOrigin(UNKNOWN)));

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(ORIGIN_NOT_ALLOWED);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
    expect(await fakeWaveline.calls(id)).toHaveLength(0);
  });

  it("refuses a token creating from an origin only another tenant lists: 403", async () => {
    const token = await mintToken(shop, { scopes: ["jobs:create"] });

    const response = await proxyFetch(
      "/extract-document",
      withBearer(token, jsonBody(DOCUMENT, fromOrigin(OTHER))),
    );

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(ORIGIN_NOT_ALLOWED);
  });

  it("makes a 401 for a bad token readable by a known origin", async () => {
    const response = await proxyFetch(
      `/jobs/${uniqueJobId("bad-token")}`,
      withBearer("not-a-token", fromOrigin(SHOP)),
    );

    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: "missing or invalid credentials",
      code: "authentication_failed",
    });
    expectReadableFrom(response, SHOP);
  });

  it("makes a 403 for a missing scope readable by the tenant's origin", async () => {
    const token = await mintToken(shop, { scopes: ["jobs:read"] });

    const response = await proxyFetch(
      "/extract-document",
      withBearer(token, jsonBody(DOCUMENT, fromOrigin(SHOP))),
    );

    expect(response.status).toBe(403);
    expectReadableFrom(response, SHOP);
  });

  it("makes a 404 for another tenant's job readable by the tenant's origin", async () => {
    const theirs = await ownedJobId(other, "theirs");
    const token = await mintToken(shop);

    const response = await proxyFetch(`/jobs/${theirs}`, withBearer(token, fromOrigin(SHOP)));

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "job not found", code: "job_not_found" });
    expectReadableFrom(response, SHOP);
  });

  it("answers a backend request without Origin with no CORS origin, but Vary: Origin", async () => {
    const id = await ownedJobId(shop, "no-origin");

    const response = await proxyFetch(`/jobs/${id}`, shop.auth());

    expect(response.status).toBe(200);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
    expect(listOf(response.headers.get("Vary"))).toContain("origin");
  });
});

describe("/admin", () => {
  it("answers an operator's request from a known origin with no CORS headers", async () => {
    const response = await proxyFetch("/admin/tenants", asAdmin(fromOrigin(SHOP)));

    expect(response.status).toBe(200);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
    expect(response.headers.get("Access-Control-Expose-Headers")).toBeNull();
  });

  it("does not answer a preflight from a known origin with CORS headers", async () => {
    const response = await preflight("/admin/tenants", SHOP, "POST");

    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
    expect(response.headers.get("Access-Control-Allow-Methods")).toBeNull();
    expect(response.headers.get("Access-Control-Allow-Headers")).toBeNull();
  });

  it("answers a refused admin request from a known origin with no CORS headers", async () => {
    const response = await proxyFetch("/admin/tenants", withBearer("nope", fromOrigin(SHOP)));

    expect(response.status).toBe(401);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });
});

describe("when tenants change", () => {
  async function patchTenant(id: string, patch: Record<string, unknown>): Promise<void> {
    const response = await proxyFetch(
      `/admin/tenants/${id}`,
      asAdmin(jsonBody(patch, { method: "PATCH" })),
    );
    expect(response.status).toBe(200);
  }

  it("refuses a disabled tenant's credentials from its own origin at once: 403, readable there", async () => {
    const origin = freshOrigin("disabled");
    const tenant = await createTenant("to-disable", [origin]);
    const id = await ownedJobId(tenant, "disabled");
    expect((await proxyFetch(`/jobs/${id}`, tenant.auth(fromOrigin(origin)))).status).toBe(200);

    await patchTenant(tenant.id, { disabled: true });
    const response = await proxyFetch(`/jobs/${id}`, tenant.auth(fromOrigin(origin)));

    expect(response.status).toBe(403);
    expectReadableFrom(response, origin);
  });

  it("serves the origin again once the tenant is enabled again", async () => {
    const origin = freshOrigin("re-enabled");
    const tenant = await createTenant("to-re-enable", [origin]);
    const id = await ownedJobId(tenant, "re-enabled");
    await patchTenant(tenant.id, { disabled: true });
    expect((await proxyFetch(`/jobs/${id}`, tenant.auth(fromOrigin(origin)))).status).toBe(403);

    await patchTenant(tenant.id, { disabled: false });
    const response = await proxyFetch(`/jobs/${id}`, tenant.auth(fromOrigin(origin)));

    expect(response.status).toBe(200);
    expectReadableFrom(response, origin);
  });

  it("stops serving an origin removed from the tenant at once: 403 without CORS headers", async () => {
    const origin = freshOrigin("removed");
    const tenant = await createTenant("drops-an-origin", [origin]);
    const id = await ownedJobId(tenant, "removed");
    expect((await proxyFetch(`/jobs/${id}`, tenant.auth(fromOrigin(origin)))).status).toBe(200);

    await patchTenant(tenant.id, { allowedOrigins: [] });
    const response = await proxyFetch(`/jobs/${id}`, tenant.auth(fromOrigin(origin)));

    expect(response.status).toBe(403);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });
});
