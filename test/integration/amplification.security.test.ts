import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { memoisedJobStore } from "../../src/core/tenancy/cached";
import { d1JobStore } from "../../src/platform/cloudflare/d1-stores";
import {
  asAdmin,
  countingDatabase,
  createTenant,
  fakeWaveline,
  jsonBody,
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

describe("requests without a credential cost the database nothing of their own", () => {
  it("answers preflights, /health, 404s and 401s for random Origins with at most one query per isolate", async () => {
    const counted = countingDatabase();
    const bindings = { ...env, DB: counted.db };
    const preflight = (origin: string) =>
      proxyFetch(
        "/jobs",
        {
          method: "OPTIONS",
          headers: { Origin: origin, "Access-Control-Request-Method": "GET" },
        },
        bindings,
      );

    const allowed = await preflight(SHOP);
    expect(allowed.headers.get("Access-Control-Allow-Origin")).toBe(SHOP);
    expect(counted.queries()).toBe(1);

    for (let i = 0; i < 10; i++) {
      const refused = await preflight(randomOrigin());
      expect(refused.headers.get("Access-Control-Allow-Origin")).toBeNull();
      for (const path of ["/health", "/no-such-path", "/jobs"]) {
        const response = await proxyFetch(path, { headers: { Origin: randomOrigin() } }, bindings);
        expect([200, 401, 404]).toContain(response.status);
        expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
      }
    }

    expect(counted.queries()).toBe(1);
  });

  it("shares one query among concurrent first requests", async () => {
    const counted = countingDatabase();
    const bindings = { ...env, DB: counted.db };

    await Promise.all(
      Array.from({ length: 20 }, () =>
        proxyFetch("/health", { headers: { Origin: randomOrigin() } }, bindings),
      ),
    );

    expect(counted.queries()).toBe(1);
  });

  it("allows an origin added in another isolate within 10 s", async () => {
    const counted = countingDatabase();
    const bindings = { ...env, DB: counted.db };
    const added = randomOrigin();
    const readable = async () =>
      (await proxyFetch("/health", { headers: { Origin: added } }, bindings)).headers.get(
        "Access-Control-Allow-Origin",
      );
    vi.useFakeTimers({ now: Date.now(), toFake: ["Date"] });
    expect(await readable()).toBeNull();

    // Through the plain binding: another set of stores, as another isolate would have.
    const changed = await proxyFetch(
      `/admin/tenants/${shop.id}`,
      asAdmin(jsonBody({ allowedOrigins: [SHOP, added] }, { method: "PATCH" })),
    );
    expect(changed.status).toBe(200);
    vi.advanceTimersByTime(10_001);

    expect(await readable()).toBe(added);
    expect(counted.queries()).toBe(2);
  });
});

describe("wrong API keys", () => {
  const randomKey = () => `wlp_${crypto.randomUUID().replaceAll("-", "")}${"x".repeat(11)}`;

  it("cost no query of their own: the set of live key hashes is reloaded at most once a second", async () => {
    const counted = countingDatabase();
    const bindings = { ...env, DB: counted.db };
    const statusWith = async (key: string) =>
      (await proxyFetch("/jobs", withBearer(key), bindings)).status;
    vi.useFakeTimers({ now: Date.now(), toFake: ["Date"] });
    expect(await statusWith(shop.key)).toBe(200);

    const before = counted.queries();
    for (let i = 0; i < 20; i++) expect(await statusWith(randomKey())).toBe(401);
    expect(counted.queries() - before).toBe(0);

    vi.advanceTimersByTime(1001);
    for (let i = 0; i < 20; i++) expect(await statusWith(randomKey())).toBe(401);
    expect(counted.queries() - before).toBe(1);
  });

  it("do not stop a key made in another isolate a second ago", async () => {
    const counted = countingDatabase();
    const bindings = { ...env, DB: counted.db };
    vi.useFakeTimers({ now: Date.now(), toFake: ["Date"] });
    expect((await proxyFetch("/jobs", shop.auth(), bindings)).status).toBe(200);

    // Through the plain binding: another set of stores, as another isolate would have.
    const created = await proxyFetch(
      `/admin/tenants/${shop.id}/keys`,
      asAdmin(jsonBody({ name: "made-elsewhere" })),
    );
    const { key } = (await created.json()) as { key: string };
    vi.advanceTimersByTime(1001);

    expect((await proxyFetch("/jobs", withBearer(key), bindings)).status).toBe(200);
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
      expect(bodies).toEqual(Array(3).fill({ error: "job not found" }));
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

  it("finds a job at once once this isolate recorded it, though it was unknown just before", async () => {
    const store = memoisedJobStore(d1JobStore(env.DB));
    const id = uniqueJobId("recorded-after-404");
    expect(await store.ownerOf(id)).toBeNull();

    await store.record({
      id,
      tenantId: shop.id,
      subject: null,
      type: "extract-document",
      fileName: "a.pdf",
      createdAt: new Date().toISOString(),
      status: "CREATED",
      pages: 0,
    });

    expect(await store.ownerOf(id)).toMatchObject({ id, tenantId: shop.id });
  });
});
