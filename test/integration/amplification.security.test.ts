import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  asAdmin,
  countingDatabase,
  createTenant,
  fakeWaveline,
  jsonBody,
  meteredDatabase,
  ownJob,
  proxyFetch,
  type TestTenant,
  uniqueJobId,
  withBearer,
} from "./helpers";

const SHOP = "https://shop-amplified.example";

const randomOrigin = () => `https://${crypto.randomUUID()}.example`;

let shop: TestTenant;
let other: TestTenant;
beforeAll(async () => {
  shop = await createTenant("shop", [SHOP]);
  other = await createTenant("other");
});
afterEach(() => {
  vi.useRealTimers();
});

describe("requests without a credential cost the database nothing", () => {
  it("answers preflights, /health, 404s and 401s for random Origins without a query", async () => {
    const metered = meteredDatabase();
    const bindings = { ...env, DB: metered.db };
    const preflight = (origin: string) =>
      proxyFetch(
        "/jobs",
        {
          method: "OPTIONS",
          headers: { Origin: origin, "Access-Control-Request-Method": "GET" },
        },
        bindings,
      );

    expect((await preflight(SHOP)).headers.get("Access-Control-Allow-Origin")).toBe(SHOP);
    for (let i = 0; i < 10; i++) {
      const origin = randomOrigin();
      expect((await preflight(origin)).status).toBe(204);
      for (const path of ["/health", "/no-such-path", "/jobs"]) {
        const response = await proxyFetch(path, { headers: { Origin: origin } }, bindings);
        expect([200, 401, 404]).toContain(response.status);
      }
    }

    expect(metered.queries()).toBe(0);
  });
});

describe("wrong API keys", () => {
  const randomTaggedKey = () =>
    `wlp_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(40))))
      .replaceAll("+", "-")
      .replaceAll("/", "_")
      .slice(0, 54)}`;
  const randomLegacyKey = () => `wlp_${crypto.randomUUID().replaceAll("-", "")}${"x".repeat(11)}`;

  it("cost one round trip in a new isolate, then none: the check comes with the first lookup", async () => {
    const metered = meteredDatabase();
    const bindings = { ...env, DB: metered.db };
    const statusWith = async (key: string) =>
      (await proxyFetch("/jobs", withBearer(key), bindings)).status;

    expect(await statusWith(randomTaggedKey())).toBe(401);
    expect(metered.roundTrips()).toBe(1);

    for (let i = 0; i < 50; i++) {
      expect(await statusWith(randomTaggedKey())).toBe(401);
      expect(await statusWith(randomLegacyKey())).toBe(401);
    }
    expect(metered.roundTrips()).toBe(1);
  });

  it("cost nothing in an isolate whose first key was a good one", async () => {
    const metered = meteredDatabase();
    const bindings = { ...env, DB: metered.db };
    expect((await proxyFetch("/jobs", shop.auth(), bindings)).status).toBe(200);
    const before = metered.queries();

    for (let i = 0; i < 20; i++) {
      expect((await proxyFetch("/jobs", withBearer(randomTaggedKey()), bindings)).status).toBe(401);
    }

    expect(metered.queries() - before).toBe(0);
  });

  it("do not stop a key made in another isolate a moment ago", async () => {
    const metered = meteredDatabase();
    const bindings = { ...env, DB: metered.db };
    expect((await proxyFetch("/jobs", shop.auth(), bindings)).status).toBe(200);

    // Through the plain binding: another set of stores, as another isolate would have.
    const created = await proxyFetch(
      `/admin/tenants/${shop.id}/keys`,
      asAdmin(jsonBody({ name: "made-elsewhere" })),
    );
    const { key } = (await created.json()) as { key: string };

    expect((await proxyFetch("/jobs", withBearer(key), bindings)).status).toBe(200);
  });

  it("a key made before keys had tags still works, and made-up ones like it cost nothing", async () => {
    const legacy = `wlp_${"L".repeat(43)}`;
    const hash = [
      ...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(legacy))),
    ]
      .map((byte) => byte.toString(16).padStart(2, "0"))
      .join("");
    await env.DB.prepare(
      "INSERT INTO api_keys (id, tenant_id, name, prefix, hash, created_at) VALUES (?, ?, 'old', 'wlp_LLLLLL', ?, ?)",
    )
      .bind(`key_legacy_${crypto.randomUUID()}`, shop.id, hash, new Date().toISOString())
      .run();
    const metered = meteredDatabase();
    const bindings = { ...env, DB: metered.db };

    expect((await proxyFetch("/jobs", withBearer(legacy), bindings)).status).toBe(200);
    const before = metered.queries();
    for (let i = 0; i < 20; i++) {
      expect((await proxyFetch("/jobs", withBearer(randomLegacyKey()), bindings)).status).toBe(401);
    }
    expect(metered.queries() - before).toBe(0);
  });
});

describe("a foreign job and an unknown one cost the same", () => {
  it("asks the database once for each, however often they are read", async () => {
    const counted = countingDatabase();
    const bindings = { ...env, DB: counted.db };
    const read = (id: string) => proxyFetch(`/jobs/${id}`, shop.auth(), bindings);
    const foreign = uniqueJobId("foreign");
    await ownJob(other.id, foreign);
    const unknown = uniqueJobId("unknown");
    // The key lookup is memoised by the first request: only ownership lookups are left.
    await read(uniqueJobId("warm-up"));

    const queriesFor = async (id: string) => {
      const before = counted.queries();
      const bodies: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await read(id);
        expect(response.status).toBe(404);
        bodies.push(await response.json());
      }
      expect(bodies).toEqual(Array(3).fill({ error: "job not found", code: "job_not_found" }));
      return counted.queries() - before;
    };

    expect(await queriesFor(foreign)).toBe(1);
    expect(await queriesFor(unknown)).toBe(1);
  });

  it("reads a job at once once this isolate assigned it, though it answered 404 just before", async () => {
    const id = uniqueJobId("assigned-after-404");
    await fakeWaveline.createJob({ id, status: "RUNNING" });
    expect((await proxyFetch(`/jobs/${id}`, shop.auth())).status).toBe(404);

    const assigned = await proxyFetch(
      `/admin/jobs/${id}/owner`,
      asAdmin(jsonBody({ tenantId: shop.id }, { method: "PUT" })),
    );
    expect(assigned.status).toBe(200);

    expect((await proxyFetch(`/jobs/${id}`, shop.auth())).status).toBe(200);
  });
});
