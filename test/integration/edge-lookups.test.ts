import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { MEMO_TTL_MS, STALE_LIMIT_MS } from "../../src/core/tenancy/directory";
import {
  asAdmin,
  createTenant,
  type DatabaseMeter,
  failingDatabase,
  failingStubs,
  freshIsolate,
  isolateFetch,
  jsonBody,
  meteredDatabase,
  mintToken,
  ownJob,
  proxyFetch,
  seedOtherTenants,
  tenantWithCachedJob,
  uniqueJobId,
  withBearer,
} from "./helpers";

/** As a D1 primary on another continent answers. */
const FAR_MS = 50;
const POPULATION = 10_000;

afterEach(() => {
  vi.restoreAllMocks();
});

interface Cost {
  queries: number;
  rows: number;
  sequential: number;
}
const costOf = (meter: DatabaseMeter): Cost => ({
  queries: meter.queries(),
  rows: meter.rowsRead(),
  sequential: meter.sequentialRoundTrips(),
});

/** The first request of a new isolate, for a credential and job this location never looked up. */
async function coldIsolateHit(label: string): Promise<Cost> {
  const { tenant, id } = await tenantWithCachedJob(label);
  // A key in service, used within the hour: its lastUsedAt costs nothing now (a key's first use
  // writes it once, after the answer: keys-lifecycle.test.ts).
  await usedJustNow(tenant.keyId);
  const meter = meteredDatabase(env.DB, { delayMs: FAR_MS });
  const isolate = await freshIsolate();

  const response = await isolateFetch(isolate, `/jobs/${id}`, tenant.auth(), {
    ...env,
    DB: meter.db,
  });

  expect(response.status).toBe(200);
  expect(response.headers.get("X-Cache")).toMatch(/^HIT/);
  return costOf(meter);
}

async function usedJustNow(keyId: string): Promise<void> {
  await env.DB.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
    .bind(new Date().toISOString(), keyId)
    .run();
}

/** 100 made-up keys (half tagged-looking, half like keys before tags) sent to a new isolate. */
async function unknownKeys(): Promise<Cost> {
  const meter = meteredDatabase();
  const bindings = { ...env, DB: meter.db };
  const isolate = await freshIsolate();
  for (let i = 0; i < 100; i++) {
    const random = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(40))))
      .replaceAll("+", "-")
      .replaceAll("/", "_");
    const key = i % 2 === 0 ? `wlp_${random.slice(0, 54)}` : `wlp_${random.slice(0, 43)}`;
    const response = await isolateFetch(isolate, "/jobs", withBearer(key), bindings);
    expect(response.status).toBe(401);
  }
  return costOf(meter);
}

/** 100 preflights from Origins nobody lists, sent to a new isolate. */
async function unknownOrigins(): Promise<Cost> {
  const meter = meteredDatabase();
  const bindings = { ...env, DB: meter.db };
  const isolate = await freshIsolate();
  for (let i = 0; i < 100; i++) {
    const response = await isolateFetch(
      isolate,
      "/jobs",
      {
        method: "OPTIONS",
        headers: {
          Origin: `https://${crypto.randomUUID()}.example`,
          "Access-Control-Request-Method": "GET",
        },
      },
      bindings,
    );
    expect(response.status).toBe(204);
  }
  return costOf(meter);
}

describe(`storage work per request, with no other tenants and with ${POPULATION}`, () => {
  const measured: Record<"alone" | "crowded", { hit: Cost; keys: Cost; origins: Cost }> = {
    alone: undefined as never,
    crowded: undefined as never,
  };
  beforeAll(async () => {
    measured.alone = {
      hit: await coldIsolateHit("alone"),
      keys: await unknownKeys(),
      origins: await unknownOrigins(),
    };
    await seedOtherTenants(POPULATION);
    measured.crowded = {
      hit: await coldIsolateHit("crowded"),
      keys: await unknownKeys(),
      origins: await unknownOrigins(),
    };
  }, 120_000);

  it("a new isolate's first cache hit: one round trip, a handful of rows, however many tenants", () => {
    for (const { hit } of Object.values(measured)) {
      expect(hit.sequential).toBe(1);
      expect(hit.rows).toBeLessThanOrEqual(10);
    }
    expect(measured.crowded.hit.rows).toBe(measured.alone.hit.rows);
  });

  it("100 made-up keys in a new isolate: one round trip in all, however many tenants", () => {
    for (const { keys } of Object.values(measured)) {
      expect(keys.sequential).toBe(1);
      expect(keys.rows).toBeLessThanOrEqual(10);
    }
    expect(measured.crowded.keys.rows).toBe(measured.alone.keys.rows);
  });

  it("100 preflights from unknown Origins in a new isolate: no query at all", () => {
    for (const { origins } of Object.values(measured)) expect(origins.queries).toBe(0);
  });

  it("a warm hit: no query", async () => {
    const { tenant, id } = await tenantWithCachedJob("warm");
    const meter = meteredDatabase();
    const bindings = { ...env, DB: meter.db };
    const isolate = await freshIsolate();
    const read = () => isolateFetch(isolate, `/jobs/${id}`, tenant.auth(), bindings);
    expect((await read()).status).toBe(200);
    meter.reset();

    for (let i = 0; i < 20; i++) expect((await read()).headers.get("X-Cache")).toMatch(/^HIT/);

    expect(meter.queries()).toBe(0);
  });

  it("a new isolate where a neighbour already looked the caller and job up: no query", async () => {
    const { tenant, id } = await tenantWithCachedJob("neighbour");
    expect((await isolateFetch(await freshIsolate(), `/jobs/${id}`, tenant.auth())).status).toBe(
      200,
    );
    const meter = meteredDatabase();

    const response = await isolateFetch(await freshIsolate(), `/jobs/${id}`, tenant.auth(), {
      ...env,
      DB: meter.db,
    });

    expect(response.headers.get("X-Cache")).toMatch(/^HIT/);
    expect(meter.queries()).toBe(0);
  });
});

describe("the read limit on a cold isolate's hit", () => {
  it("waits for no lease: the first read is served while the limiter's answer is on its way", async () => {
    const { tenant, id } = await tenantWithCachedJob("lease-ahead");
    const patched = await proxyFetch(
      `/admin/tenants/${tenant.id}`,
      asAdmin(jsonBody({ rateLimits: { readsPerMinute: 600 } }, { method: "PATCH" })),
    );
    expect(patched.status).toBe(200);
    // The limiter never answers: a read that waited for it would be a 503 after 2 s.
    const bindings = {
      ...env,
      RATE_LIMITER: failingStubs(env.RATE_LIMITER, "hang", ["take"]),
    };

    const response = await isolateFetch(
      await freshIsolate(),
      `/jobs/${id}`,
      tenant.auth(),
      bindings,
    );

    expect(response.status).toBe(200);
    expect(response.headers.get("X-Cache")).toMatch(/^HIT/);
    expect(response.headers.get("RateLimit-Limit")).toBe("600");
  });
});

describe("revocation across isolates", () => {
  it("a revoked key stops at once where it was revoked, and within 10 s in another isolate", async () => {
    const { tenant, id } = await tenantWithCachedJob("revoked");
    const here = await freshIsolate();
    const there = await freshIsolate();
    for (const isolate of [here, there]) {
      expect((await isolateFetch(isolate, `/jobs/${id}`, tenant.auth())).status).toBe(200);
    }
    const now = Date.now();

    const revoked = await isolateFetch(
      here,
      `/admin/tenants/${tenant.id}/keys/${tenant.keyId}`,
      asAdmin({ method: "DELETE" }),
    );
    expect(revoked.status).toBe(204);
    expect((await isolateFetch(here, `/jobs/${id}`, tenant.auth())).status).toBe(401);

    vi.spyOn(Date, "now").mockReturnValue(now + MEMO_TTL_MS + 1);
    expect((await isolateFetch(there, `/jobs/${id}`, tenant.auth())).status).toBe(401);
  });

  it("revoked tokens and a disabled tenant stop within 10 s in another isolate", async () => {
    const { tenant, id } = await tenantWithCachedJob("tokens-revoked");
    const token = await mintToken(tenant);
    const here = await freshIsolate();
    const there = await freshIsolate();
    for (const isolate of [here, there]) {
      expect((await isolateFetch(isolate, `/jobs/${id}`, withBearer(token))).status).toBe(200);
    }
    const now = Date.now();

    await isolateFetch(
      here,
      `/admin/tenants/${tenant.id}/revoke-tokens`,
      asAdmin({ method: "POST" }),
    );
    expect((await isolateFetch(here, `/jobs/${id}`, withBearer(token))).status).toBe(401);
    await isolateFetch(
      here,
      `/admin/tenants/${tenant.id}`,
      asAdmin(jsonBody({ disabled: true }, { method: "PATCH" })),
    );
    expect((await isolateFetch(here, `/jobs/${id}`, tenant.auth())).status).toBe(403);

    vi.spyOn(Date, "now").mockReturnValue(now + MEMO_TTL_MS + 1);
    expect((await isolateFetch(there, `/jobs/${id}`, withBearer(token))).status).toBe(401);
    expect((await isolateFetch(there, `/jobs/${id}`, tenant.auth())).status).toBe(403);
  });
});

describe("while D1 is down", () => {
  /**
   * A tenant whose key, token and jobs this location looked up more than the revocation bound
   * ago, and a new isolate without D1.
   */
  async function outage(label: string) {
    const { tenant, id } = await tenantWithCachedJob(label);
    const running = uniqueJobId(`${label}-running`);
    await ownJob(tenant.id, running);
    const token = await mintToken(tenant);
    const neighbour = await freshIsolate();
    for (const path of [`/jobs/${id}`, `/jobs/${running}`]) {
      for (const credential of [tenant.key, token]) {
        expect((await isolateFetch(neighbour, path, withBearer(credential))).status).toBe(200);
      }
    }
    // Looked up too, and found to have no owner: an answer that must not stand in later.
    const ownerless = uniqueJobId(`${label}-ownerless`);
    expect((await isolateFetch(neighbour, `/jobs/${ownerless}`, tenant.auth())).status).toBe(404);
    const database = failingDatabase();
    database.fail("throw");
    const isolate = await freshIsolate();
    const bindings = { ...env, DB: database.db };
    const read = (path: string, init: RequestInit) => isolateFetch(isolate, path, init, bindings);
    const now = Date.now();
    vi.spyOn(Date, "now").mockReturnValue(now + MEMO_TTL_MS + 1);
    return { tenant, id, running, ownerless, token, read };
  }

  it("a key or token this location saw lately still reads its cached finished jobs", async () => {
    const { tenant, id, token, read } = await outage("outage-hit");

    for (const credential of [tenant.key, token]) {
      const response = await read(`/jobs/${id}`, withBearer(credential));
      expect(response.status).toBe(200);
      expect(response.headers.get("X-Cache")).toMatch(/^HIT/);
      expect(((await response.json()) as { result: unknown }).result).toEqual({ total: 12 });
    }
  });

  it("everything else answers 503: running jobs, unknown owners, listings, creation, tokens, admin, unknown keys", async () => {
    const { tenant, running, ownerless, read } = await outage("outage-refused");
    const stranger = await createTenant("outage-stranger");

    const answers = [
      await read(`/jobs/${running}`, tenant.auth()),
      await read(`/jobs/${uniqueJobId("owner-unknown")}`, tenant.auth()),
      await read(`/jobs/${ownerless}`, tenant.auth()),
      await read("/jobs", tenant.auth()),
      await read(
        "/extract-document",
        tenant.auth(jsonBody({ fileName: "a.txt", contentType: "text/plain", content: "x" })),
      ),
      await read("/tokens", tenant.auth(jsonBody({}))),
      await read(`/admin/tenants/${tenant.id}`, asAdmin()),
      await read(`/jobs/${uniqueJobId("stranger")}`, stranger.auth()),
    ];

    expect(answers.map((response) => response.status)).toEqual(Array(answers.length).fill(503));
  });

  it("never guesses an owner: another tenant's job known here is a 404, as always", async () => {
    const { id } = await tenantWithCachedJob("outage-owner");
    const other = await createTenant("outage-other");
    const neighbour = await freshIsolate();
    expect((await isolateFetch(neighbour, `/jobs/${id}`, other.auth())).status).toBe(404);
    const database = failingDatabase();
    database.fail("throw");
    vi.spyOn(Date, "now").mockReturnValue(Date.now() + MEMO_TTL_MS + 1);

    const response = await isolateFetch(await freshIsolate(), `/jobs/${id}`, other.auth(), {
      ...env,
      DB: database.db,
    });

    expect(response.status).toBe(404);
  });

  it("stops standing in after 10 minutes: then 503", async () => {
    const { tenant, id, read } = await outage("outage-long");
    vi.spyOn(Date, "now").mockReturnValue(Date.now() + STALE_LIMIT_MS);

    expect((await read(`/jobs/${id}`, tenant.auth())).status).toBe(503);
  });
});
