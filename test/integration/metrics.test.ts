import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { worker } from "../../src/platform/cloudflare/worker";
import {
  asAdmin,
  createTenant,
  fakeWaveline,
  meteredDatabase,
  mintToken,
  ownJob,
  PROXY_ORIGIN,
  proxyFetch,
  type TestTenant,
  tenantWithCachedJob,
  uniqueJobId,
  withBearer,
} from "./helpers";

interface Point {
  at: string;
  requests: number;
  cacheHits: number;
  upstreamCalls: number;
  upstreamCallsSaved: number;
  jobsCreated: number;
  pagesBilled: number;
  errors: number;
  statusClasses: Record<string, number>;
  routes: Record<string, number>;
  cacheByTier: Record<string, number>;
  durationMs: { p50: number | null; p95: number | null; counts: number[] };
}
interface Metrics {
  tenantId: string;
  openStreams: number | null;
  step: string;
  series: Point[];
  totals: Point;
}

const ownMetrics = async (tenant: TestTenant, query = "", bindings: Env = env) => {
  const response = await proxyFetch(`/usage/metrics${query}`, tenant.auth(), bindings);
  expect(response.status).toBe(200);
  return (await response.json()) as Metrics;
};

const adminMetrics = async (tenantId: string, query = "") => {
  const response = await proxyFetch(`/admin/tenants/${tenantId}/metrics${query}`, asAdmin());
  expect(response.status).toBe(200);
  return (await response.json()) as Metrics;
};

let acme: TestTenant;
let acmeJob: string;
let globex: TestTenant;
beforeAll(async () => {
  ({ tenant: acme, id: acmeJob } = await tenantWithCachedJob("metrics-acme"));
  globex = await createTenant("metrics-globex");
});

describe("a tenant's metrics", () => {
  it("show its requests, cache hits and upstream calls saved once its background work is done", async () => {
    const before = (await ownMetrics(acme)).totals;
    for (let i = 0; i < 5; i++) {
      expect((await proxyFetch(`/jobs/${acmeJob}`, acme.auth())).status).toBe(200);
    }
    const after = await adminMetrics(acme.id);
    // The metrics read above is itself a request of the tenant's: hence 6.
    expect(after.totals.requests - before.requests).toBe(6);
    expect(after.totals.cacheHits - before.cacheHits).toBe(5);
    expect(after.totals.upstreamCallsSaved - before.upstreamCallsSaved).toBe(5);
    expect(after.totals.upstreamCalls - before.upstreamCalls).toBe(0);
    expect(after.totals.routes["GET /jobs/:id"]).toBeGreaterThanOrEqual(5);
    expect(after.totals.statusClasses["2xx"]).toBeGreaterThanOrEqual(6);
    expect(after.totals.durationMs.p95).not.toBeNull();
    expect(after.step).toBe("minute");
    expect(after.openStreams).toBe(0);
    expect(after.series).toHaveLength(60);
    expect(after.series.at(-1)?.requests).toBeGreaterThan(0);
  });

  it("with the production flush window, a request shows up once the flush it scheduled ran", async () => {
    const bindings = { ...env, METRICS_FLUSH_MS: "5000" };
    const tenant = await createTenant("metrics-slow-flush");
    const ctx = createExecutionContext();
    const started = Date.now();
    const response = await worker.request(`${PROXY_ORIGIN}/usage`, tenant.auth(), bindings, ctx);
    expect(response.status).toBe(200);
    // The flush is background work of the request: the test waits for it, not for 60 s.
    await waitOnExecutionContext(ctx);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect((await adminMetrics(tenant.id)).totals.requests).toBe(1);
  });

  it("count upstream calls and jobs created, and errors", async () => {
    const tenant = await createTenant("metrics-upstream");
    const id = uniqueJobId("metrics-running");
    await fakeWaveline.createJob({ id, status: "RUNNING", pages: 0 });
    await ownJob(tenant.id, id);
    expect((await proxyFetch(`/jobs/${id}`, tenant.auth())).status).toBe(200);
    const created = await proxyFetch(
      "/extract-document",
      tenant.auth({
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          fileName: "metrics.pdf",
          contentType: "application/pdf",
          content: "x",
          shape: [{ name: "total", type: "number" }],
        }),
      }),
    );
    expect(created.status).toBe(201);
    const createdPages = ((await created.json()) as { pages?: number }).pages ?? 0;
    expect((await proxyFetch("/jobs/bad%2Fid", tenant.auth())).status).toBe(400);
    // The job ends with 3 pages: the read that learns it bills them, once.
    await fakeWaveline.updateJob(id, { status: "COMPLETED", pages: 3 });
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await proxyFetch(`/jobs/${id}`, tenant.auth())).status).toBe(200);
    const { totals } = await adminMetrics(tenant.id);
    // Pages a job has when created are billed as it is recorded.
    expect(totals.pagesBilled).toBe(3 + createdPages);
    expect(totals.upstreamCalls).toBe(3);
    expect(totals.jobsCreated).toBe(1);
    expect(totals.errors).toBe(1);
    expect(totals.statusClasses["4xx"]).toBe(1);
    expect(totals.cacheByTier.miss).toBe(2);
  });

  it("per end user with ?sub=: that user's requests only", async () => {
    const id = uniqueJobId("metrics-alice");
    await fakeWaveline.createJob({ id, status: "COMPLETED", pages: 1 });
    await ownJob(acme.id, id, "alice", "COMPLETED");
    const alice = await mintToken(acme, { sub: "alice" });
    for (let i = 0; i < 3; i++) {
      expect((await proxyFetch(`/jobs/${id}`, withBearer(alice))).status).toBe(200);
    }
    const ofAlice = await ownMetrics(acme, "?sub=alice");
    expect(ofAlice.totals.requests).toBe(3);
    expect(ofAlice.totals.cacheHits).toBe(2);
    expect(ofAlice.totals.upstreamCalls).toBe(1);
    expect((await ownMetrics(acme, "?sub=bob")).totals.requests).toBe(0);
    // A browser token reads no metrics, not even its own user's.
    const refused = await proxyFetch("/usage/metrics?sub=alice", withBearer(alice));
    expect(refused.status).toBe(403);
  });

  it("never show another tenant's requests", async () => {
    const before = (await ownMetrics(globex)).totals.requests;
    for (let i = 0; i < 4; i++) await proxyFetch(`/jobs/${acmeJob}`, acme.auth());
    // globex's own read of its metrics is its only request since.
    const after = await ownMetrics(globex);
    expect(after.tenantId).toBe(globex.id);
    expect(after.totals.requests - before).toBe(1);
    expect(after.totals.cacheHits).toBe(0);
    // Another tenant's job is a 404 to globex, counted as globex's, never acme's hit.
    expect((await proxyFetch(`/jobs/${acmeJob}`, globex.auth())).status).toBe(404);
    expect((await ownMetrics(globex)).totals.cacheHits).toBe(0);
  });
});

describe("the metrics routes refuse", () => {
  it.each([
    ["?step=day", "step"],
    ["?from=yesterday", "from"],
    ["?to=soon", "to"],
    ["?from=2026-12-01T10:00:00Z&to=2026-12-01T09:00:00Z", "from"],
    [`?from=${new Date(Date.now() - 48 * 3600_000).toISOString()}`, "from"],
    [`?step=hour&from=${new Date(Date.now() - 100 * 86400_000).toISOString()}`, "from"],
  ])("%s with a 400 naming %s", async (query, field) => {
    for (const response of [
      await proxyFetch(`/usage/metrics${query}`, acme.auth()),
      await proxyFetch(`/admin/tenants/${acme.id}/metrics${query}`, asAdmin()),
    ]) {
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: string; code: string };
      expect(body.code).toBe("invalid_request");
      expect(body.error.startsWith(`${field} `)).toBe(true);
    }
  });

  it("an unknown tenant (admin) with a 404, no credential with a 401", async () => {
    const unknown = await proxyFetch("/admin/tenants/tnt_nobody/metrics", asAdmin());
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe("tenant_not_found");
    expect((await proxyFetch("/usage/metrics")).status).toBe(401);
    expect((await proxyFetch(`/admin/tenants/${acme.id}/metrics`, acme.auth())).status).toBe(401);
  });

  it("accepts step=hour over 90 days", async () => {
    const from = new Date(Date.now() - 89 * 86400_000).toISOString();
    const metrics = await ownMetrics(acme, `?step=hour&from=${from}`);
    expect(metrics.series.length).toBeGreaterThan(89 * 24);
    expect(metrics.totals.requests).toBeGreaterThan(0);
  });
});

describe("the cost of counting", () => {
  it("writes nothing to D1 per request", async () => {
    const meter = meteredDatabase();
    const bindings = { ...env, DB: meter.db };
    await proxyFetch(`/jobs/${acmeJob}`, acme.auth(), bindings);
    meter.reset();
    for (let i = 0; i < 20; i++) await proxyFetch(`/jobs/${acmeJob}`, acme.auth(), bindings);
    expect(meter.queries()).toBe(0);
    expect((await ownMetrics(acme, "", bindings)).totals.requests).toBeGreaterThanOrEqual(20);
  });

  it("many requests of many tenants make at most one metrics call per tenant per flush window", async () => {
    const FLUSH_MS = 5_000;
    const calls = new Map<string, number>();
    const real = env.TENANT_METRICS;
    const tenantOf = new WeakMap<DurableObjectId, string>();
    const counting = new Proxy(real, {
      get(target, name) {
        if (name === "idFromName") {
          return (tenantId: string) => {
            const id = target.idFromName(tenantId);
            tenantOf.set(id, tenantId);
            return id;
          };
        }
        if (name !== "get") return Reflect.get(target, name);
        return (id: DurableObjectId) => {
          const stub = target.get(id);
          const tenantId = tenantOf.get(id) ?? "";
          return {
            add: (batch: Parameters<typeof stub.add>[0]) => {
              calls.set(tenantId, (calls.get(tenantId) ?? 0) + 1);
              return stub.add(batch);
            },
            series: (query: Parameters<typeof stub.series>[0]) => stub.series(query),
          };
        };
      },
    });
    const bindings = { ...env, TENANT_METRICS: counting, METRICS_FLUSH_MS: String(FLUSH_MS) };
    const tenants = await Promise.all(
      Array.from({ length: 12 }, (_, i) => tenantWithCachedJob(`metrics-crowd-${i}`)),
    );
    const ctx = createExecutionContext();
    const started = Date.now();
    const responses = await Promise.all(
      tenants.flatMap(({ tenant, id }) =>
        Array.from({ length: 25 }, () =>
          worker.request(`${PROXY_ORIGIN}/jobs/${id}`, tenant.auth(), bindings, ctx),
        ),
      ),
    );
    const sentInMs = Date.now() - started;
    expect(responses.every((response) => response.status === 200)).toBe(true);
    await waitOnExecutionContext(ctx);
    const windows = Math.ceil(sentInMs / FLUSH_MS);
    for (const { tenant } of tenants) {
      expect(calls.get(tenant.id)).toBeGreaterThanOrEqual(1);
      expect(calls.get(tenant.id)).toBeLessThanOrEqual(windows);
      expect((await adminMetrics(tenant.id)).totals.requests).toBe(25);
    }
  });
});
