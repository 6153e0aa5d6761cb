import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  asAdmin,
  createTenant,
  freshIsolate,
  isolateFetch,
  jsonBody,
  meteredDatabase,
  mintToken,
  proxyFetch,
  type TestTenant,
  tenantWithCachedJob,
  withBearer,
} from "./helpers";

interface KeyRecord {
  id: string;
  key: string;
  name: string;
  expiresAt: string | null;
  scopes: string[];
  lastUsedAt: string | null;
}

async function newKey(tenant: TestTenant, body: Record<string, unknown>): Promise<KeyRecord> {
  const response = await proxyFetch(
    `/admin/tenants/${tenant.id}/keys`,
    asAdmin(jsonBody({ name: "scoped", ...body })),
  );
  if (response.status !== 201) throw new Error(`key not made: ${await response.text()}`);
  return (await response.json()) as KeyRecord;
}

async function keysOf(tenant: TestTenant): Promise<KeyRecord[]> {
  const response = await proxyFetch(`/admin/tenants/${tenant.id}/keys`, asAdmin());
  return ((await response.json()) as { items: KeyRecord[] }).items;
}

/** Polls `read` until it answers 401, and says how long after `expiresAt` that was. */
async function msUntilRefused(read: () => Promise<Response>, expiresAt: string): Promise<number> {
  for (;;) {
    const status = (await read()).status;
    if (status === 401) return Date.now() - Date.parse(expiresAt);
    expect(status).toBe(200);
    if (Date.now() - Date.parse(expiresAt) > 30_000) throw new Error("still accepted 30 s after");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

describe("API keys with an expiry", () => {
  it("answer 401 from their expiresAt on, and so do the browser tokens they minted", async () => {
    const tenant = await createTenant("expiring");
    const expiring = await newKey(tenant, { expiresAt: inSeconds(2) });
    expect(expiring.expiresAt).not.toBeNull();
    const token = await mintToken({ ...tenant, auth: (init) => withBearer(expiring.key, init) });
    // Looked up (and remembered) while it was good: the expiry must hold against that memory.
    expect((await proxyFetch("/jobs", withBearer(expiring.key))).status).toBe(200);

    const late = await msUntilRefused(
      () => proxyFetch("/jobs", withBearer(expiring.key)),
      expiring.expiresAt as string,
    );

    expect(late).toBeLessThan(1_000);
    expect((await proxyFetch("/jobs", withBearer(token))).status).toBe(401);
    expect((await proxyFetch("/jobs", tenant.auth())).status).toBe(200);
    const listed = (await keysOf(tenant)).find((key) => key.id === expiring.id);
    expect(listed?.expiresAt).toBe(expiring.expiresAt);
  });

  it.each([
    [{ expiresAt: "2020-01-01T00:00:00Z" }, "expiresAt must be in the future"],
    [{ expiresAt: "tomorrow" }, "expiresAt must be an ISO 8601 date-time"],
    [{ scopes: [] }, "scopes must name at least one scope"],
    [{ scopes: ["jobs:delete"] }, "scopes.0 must be one of"],
  ])("refuses %j with 400", async (body, message) => {
    const tenant = await createTenant("bad-keys");
    const response = await proxyFetch(
      `/admin/tenants/${tenant.id}/keys`,
      asAdmin(jsonBody({ name: "k", ...body })),
    );
    expect(response.status).toBe(400);
    const answer = (await response.json()) as { error: string; code: string };
    expect(answer.code).toBe("invalid_request");
    expect(answer.error).toContain(message);
  });
});

describe("API key scopes", () => {
  it("default to all of them", async () => {
    const tenant = await createTenant("all-scopes");
    const [key] = await keysOf(tenant);
    expect(key?.scopes).toEqual([
      "jobs:read",
      "jobs:create",
      "tokens:mint",
      "usage:read",
      "webhooks:manage",
    ]);
  });

  it("a key without a scope gets 403 scope_missing, naming it, on each route that needs it", async () => {
    const tenant = await createTenant("narrow");
    const readOnly = await newKey(tenant, { scopes: ["jobs:read"] });
    const asReader = (init?: RequestInit) => withBearer(readOnly.key, init);
    const document = { fileName: "a.txt", contentType: "text/plain", content: "hello" };

    expect((await proxyFetch("/jobs", asReader())).status).toBe(200);
    const refusals: [string, RequestInit, string][] = [
      ["/extract-document", asReader(jsonBody(document)), "jobs:create"],
      ["/tokens", asReader(jsonBody({})), "tokens:mint"],
      ["/usage", asReader(), "usage:read"],
      ["/webhooks", asReader(), "webhooks:manage"],
      ["/webhooks", asReader(jsonBody({ url: "https://hooks.example.com/x" })), "webhooks:manage"],
    ];
    for (const [path, init, scope] of refusals) {
      const response = await proxyFetch(path, init);
      expect(response.status, path).toBe(403);
      expect(await response.json()).toEqual({
        error: `the API key lacks the ${scope} scope`,
        code: "scope_missing",
      });
    }
  });

  it("a key mints browser tokens with none of the scopes it lacks", async () => {
    const tenant = await createTenant("minter");
    const minter = await newKey(tenant, { scopes: ["tokens:mint", "jobs:create"] });
    const asMinter = (body: unknown) => withBearer(minter.key, jsonBody(body));

    const reading = await proxyFetch("/tokens", asMinter({ scopes: ["jobs:read"] }));
    const creating = await proxyFetch("/tokens", asMinter({ scopes: ["jobs:create"] }));

    expect(reading.status).toBe(403);
    expect(await reading.json()).toEqual({
      error: "the API key lacks the jobs:read scope: its tokens cannot have it",
      code: "scope_missing",
    });
    expect(creating.status).toBe(201);
    const { token } = (await creating.json()) as { token: string };
    const read = await proxyFetch("/jobs", withBearer(token));
    expect(read.status).toBe(403);
  });
});

describe("lastUsedAt", () => {
  it("appears after a use, written once, not on every request", async () => {
    const { tenant, id } = await tenantWithCachedJob("last-used");
    expect((await keysOf(tenant))[0]?.lastUsedAt).toBeNull();
    const meter = meteredDatabase();
    const bindings = { ...env, DB: meter.db };
    const before = Date.now();

    const here = await freshIsolate();
    for (let i = 0; i < 10; i++) {
      expect((await isolateFetch(here, `/jobs/${id}`, tenant.auth(), bindings)).status).toBe(200);
    }
    // The lookup (one batch), and the one write of lastUsedAt after the answer.
    expect(meter.roundTrips()).toBe(2);
    const [key] = await keysOf(tenant);
    expect(Date.parse(key?.lastUsedAt ?? "")).toBeGreaterThanOrEqual(before - 1);

    // A neighbour isolate, and this one again: no write, though both serve the key.
    meter.reset();
    const there = await freshIsolate();
    for (let i = 0; i < 10; i++) {
      expect((await isolateFetch(there, `/jobs/${id}`, tenant.auth(), bindings)).status).toBe(200);
    }
    expect(meter.queries()).toBe(0);
    expect((await keysOf(tenant))[0]?.lastUsedAt).toBe(key?.lastUsedAt);
  });
});

describe("rotation with overlap", () => {
  it("gives a new key at once; the old one works until the time asked, then 401", async () => {
    const tenant = await createTenant("rotating");
    const old = await newKey(tenant, { name: "backend", scopes: ["jobs:read", "usage:read"] });
    const oldKeyExpiresAt = inSeconds(2);

    const response = await proxyFetch(
      `/admin/tenants/${tenant.id}/keys/${old.id}/rotate`,
      asAdmin(jsonBody({ oldKeyExpiresAt })),
    );

    expect(response.status).toBe(201);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    const rotated = (await response.json()) as KeyRecord & { oldKey: KeyRecord };
    expect(rotated).toMatchObject({
      name: "backend",
      scopes: ["jobs:read", "usage:read"],
      expiresAt: null,
      key: expect.stringMatching(/^wlp_/),
      oldKey: { id: old.id, expiresAt: new Date(oldKeyExpiresAt).toISOString() },
    });
    expect((await proxyFetch("/usage", withBearer(rotated.key))).status).toBe(200);
    const late = await msUntilRefused(
      () => proxyFetch("/usage", withBearer(old.key)),
      oldKeyExpiresAt,
    );
    expect(late).toBeLessThan(1_000);
    expect((await proxyFetch("/usage", withBearer(rotated.key))).status).toBe(200);
  });

  it("lets the old key live 24 hours by default, at most 90 days, and never longer than it had", async () => {
    const tenant = await createTenant("rotating-defaults");
    const rotate = (keyId: string, body: unknown) =>
      proxyFetch(`/admin/tenants/${tenant.id}/keys/${keyId}/rotate`, asAdmin(jsonBody(body)));

    const byDefault = (await (await rotate(tenant.keyId, {})).json()) as { oldKey: KeyRecord };
    const hours = (Date.parse(byDefault.oldKey.expiresAt ?? "") - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThanOrEqual(24);

    const soon = await newKey(tenant, { expiresAt: inSeconds(600) });
    const kept = (await (await rotate(soon.id, {})).json()) as { oldKey: KeyRecord };
    expect(kept.oldKey.expiresAt).toBe(soon.expiresAt);

    const tooFar = await rotate(soon.id, { oldKeyExpiresAt: inSeconds(91 * 86_400) });
    expect(tooFar.status).toBe(400);
    expect(((await tooFar.json()) as { error: string }).error).toBe(
      "oldKeyExpiresAt must be at most 90 days from now",
    );
    expect((await rotate("key_missing", {})).status).toBe(404);
  });
});
