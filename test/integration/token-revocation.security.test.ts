import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  asAdmin,
  createTenant,
  jsonBody,
  mintToken,
  proxyFetch,
  type TestTenant,
  withBearer,
} from "./helpers";

const UNAUTHORISED = { error: "missing or invalid credentials", code: "authentication_failed" };

let acme: TestTenant;
let globex: TestTenant;
beforeAll(async () => {
  acme = await createTenant("acme");
  globex = await createTenant("globex");
});
afterEach(() => {
  vi.useRealTimers();
});

/** A second API key of the tenant, as a TestTenant that uses it. */
async function anotherKey(tenant: TestTenant, name: string): Promise<TestTenant> {
  const response = await proxyFetch(
    `/admin/tenants/${tenant.id}/keys`,
    asAdmin(jsonBody({ name })),
  );
  const key = (await response.json()) as { id: string; key: string };
  return { ...tenant, key: key.key, keyId: key.id, auth: (init) => withBearer(key.key, init) };
}

const listWith = async (token: string) => (await proxyFetch("/jobs", withBearer(token))).status;

describe("revoking an API key", () => {
  it("ends the browser tokens it minted at once in this isolate; the other keys' tokens go on", async () => {
    const doomed = await anotherKey(acme, "doomed");
    const token = await mintToken(doomed);
    const sibling = await mintToken(acme);
    expect(await listWith(token)).toBe(200);

    const revoked = await proxyFetch(
      `/admin/tenants/${acme.id}/keys/${doomed.keyId}`,
      asAdmin({ method: "DELETE" }),
    );
    expect(revoked.status).toBe(204);

    const refused = await proxyFetch("/jobs", withBearer(token));
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual(UNAUTHORISED);
    expect(await listWith(sibling)).toBe(200);
  });

  it("ends them within 10 s when it was revoked in another isolate", async () => {
    const doomed = await anotherKey(acme, "doomed-elsewhere");
    const token = await mintToken(doomed);
    vi.useFakeTimers({ now: Date.now(), toFake: ["Date"] });
    expect(await listWith(token)).toBe(200);

    // Straight in D1, as another isolate's revocation would leave this isolate's memo alone.
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?")
      .bind(new Date().toISOString(), doomed.keyId)
      .run();
    vi.advanceTimersByTime(10_001);

    expect(await listWith(token)).toBe(401);
  });
});

describe("POST /admin/tenants/{id}/revoke-tokens", () => {
  it("ends every token of the tenant minted until now; keys, later tokens and other tenants go on", async () => {
    vi.useFakeTimers({ now: Date.now(), toFake: ["Date"] });
    const before = [await mintToken(acme), await mintToken(acme, { sub: "user-1" })];
    const othersToken = await mintToken(globex);

    const response = await proxyFetch(
      `/admin/tenants/${acme.id}/revoke-tokens`,
      asAdmin({ method: "POST" }),
    );

    expect(response.status).toBe(200);
    const tenant = (await response.json()) as { id: string; tokensNotBefore: string | null };
    expect(tenant.id).toBe(acme.id);
    expect(Date.parse(tenant.tokensNotBefore ?? "")).toBeLessThanOrEqual(Date.now());
    for (const token of before) expect(await listWith(token)).toBe(401);
    expect((await proxyFetch("/jobs", acme.auth())).status).toBe(200);
    expect(await listWith(othersToken)).toBe(200);
    // Tokens carry whole seconds: one minted in the revocation's own second is refused too.
    vi.advanceTimersByTime(1000);
    expect(await listWith(await mintToken(acme))).toBe(200);
  });

  it("reaches other isolates within 10 s", async () => {
    const tenant = await createTenant("revoked-elsewhere");
    const token = await mintToken(tenant);
    vi.useFakeTimers({ now: Date.now(), toFake: ["Date"] });
    expect(await listWith(token)).toBe(200);

    await env.DB.prepare("UPDATE tenants SET tokens_not_before = ? WHERE id = ?")
      .bind(new Date().toISOString(), tenant.id)
      .run();
    vi.advanceTimersByTime(10_001);

    expect(await listWith(token)).toBe(401);
  });

  it("answers 404 for a tenant that does not exist", async () => {
    const response = await proxyFetch(
      "/admin/tenants/tnt_nobody/revoke-tokens",
      asAdmin({ method: "POST" }),
    );

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "tenant not found", code: "tenant_not_found" });
  });
});

describe("POST /tokens", () => {
  it("refuses (400) to mint a token longer than the proxy accepts, instead of one that fails on every use", async () => {
    const longIds = Array.from({ length: 100 }, (_, i) => `${i}`.padStart(128, "j"));

    const response = await proxyFetch("/tokens", acme.auth(jsonBody({ jobs: longIds })));

    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(
      /^the token would be \d+ characters, over the 8192 the proxy accepts/,
    );
  });

  it("still mints a token for 100 UUID job ids", async () => {
    const ids = Array.from({ length: 100 }, () => crypto.randomUUID());

    const token = await mintToken(globex, { jobs: ids });

    expect(token.length).toBeLessThanOrEqual(8192);
    expect(await listWith(token)).toBe(200);
  });
});
