import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVER_NAME, startTestStack, type TestStack } from "./test-stack";

interface Totals {
  requests: number;
  cacheHits: number;
  upstreamCalls: number;
  upstreamCallsSaved: number;
  jobsCreated: number;
  pagesBilled: number;
}

/**
 * The metrics against the upstream's own count: over real HTTP, every call the fake Waveline saw
 * for a tenant's jobs is one the tenant's `upstreamCalls` counted, and every job read that made
 * no call of its own (a cache hit, a poll that shared another's call) is one it counts as saved.
 */
describe(`metrics agree with the fake Waveline (${SERVER_NAME})`, () => {
  let stack: TestStack;
  let key: string;
  let tenantId: string;
  const marker = `metrics-e2e-${crypto.randomUUID()}`;

  const call = (path: string, init: RequestInit = {}, credential = key) => {
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Bearer ${credential}`);
    if (init.body) headers.set("Content-Type", "application/json");
    return fetch(`${stack.proxyUrl}${path}`, { ...init, headers });
  };
  const fakeCalls = async (match: string, bodyIncludes = "") => {
    const origin = stack.fake?.origin as string;
    const query = `match=${encodeURIComponent(match)}&bodyIncludes=${encodeURIComponent(bodyIncludes)}`;
    const answer = await fetch(`${origin}/__control/calls?${query}`);
    return ((await answer.json()) as { total: number }).total;
  };

  beforeAll(async () => {
    stack = await startTestStack({ METRICS_FLUSH_MS: "200" });
    const admin = stack.vars.ADMIN_TOKEN as string;
    const tenant = (await (
      await call("/admin/tenants", { method: "POST", body: '{"name":"metered"}' }, admin)
    ).json()) as { id: string };
    tenantId = tenant.id;
    ({ key } = (await (
      await call(
        `/admin/tenants/${tenant.id}/keys`,
        { method: "POST", body: '{"name":"backend"}' },
        admin,
      )
    ).json()) as { key: string });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("upstreamCalls is the fake's count of calls, upstreamCallsSaved every read without one", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await call("/extract-document", {
        method: "POST",
        body: JSON.stringify({
          fileName: `${marker}-${i}.txt`,
          contentType: "text/plain",
          content: "Invoice INV-77, total 99 EUR",
          shape: [{ name: "total", type: "number" }],
        }),
      });
      expect(created.status).toBe(201);
      ids.push(((await created.json()) as { id: string }).id);
    }
    // Pollers as a storm: four at a time per job until it is done, then some more of the result.
    let reads = 0;
    const done = new Set<string>();
    const pages = new Map<string, number>();
    for (let round = 0; round < 60 && done.size < ids.length; round++) {
      await Promise.all(
        ids.flatMap((id) =>
          Array.from({ length: 4 }, async () => {
            reads++;
            const response = await call(`/jobs/${id}`);
            expect(response.status).toBe(200);
            const job = (await response.json()) as { status: string; pages: number };
            if (job.status === "COMPLETED") {
              done.add(id);
              pages.set(id, job.pages);
            }
          }),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(done.size).toBe(ids.length);
    for (const id of ids) {
      for (let i = 0; i < 5; i++) {
        reads++;
        expect((await call(`/jobs/${id}`)).status).toBe(200);
      }
    }

    const created = await fakeCalls("/extract-document", marker);
    let upstreamReads = 0;
    for (const id of ids) upstreamReads += await fakeCalls(`/jobs/${id}`);
    expect(created).toBe(3);
    expect(upstreamReads).toBeGreaterThan(0);

    // The flushes land in the background: read until every request shows (at most 60 s).
    let totals: Totals | undefined;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const response = await call(`/admin/tenants/${tenantId}/metrics`, {}, stack.vars.ADMIN_TOKEN);
      expect(response.status).toBe(200);
      totals = ((await response.json()) as { totals: Totals }).totals;
      const billed = [...pages.values()].reduce((sum, n) => sum + n, 0);
      if (totals.requests >= 3 + reads && totals.pagesBilled >= billed) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(totals?.requests).toBe(3 + reads);
    expect(totals?.jobsCreated).toBe(3);
    // Every page the finished jobs billed, learnt by a read or by the settler, counted once.
    expect(totals?.pagesBilled).toBe([...pages.values()].reduce((sum, n) => sum + n, 0));
    expect(totals?.pagesBilled).toBeGreaterThan(0);
    expect(totals?.upstreamCalls).toBe(created + upstreamReads);
    expect(totals?.upstreamCallsSaved).toBe(reads - upstreamReads);
    expect(totals?.cacheHits).toBeGreaterThanOrEqual(15);
    expect(totals?.cacheHits).toBeLessThanOrEqual(totals?.upstreamCallsSaved ?? 0);

    // The tenant reads the same from its own route.
    const own = (await (await call("/usage/metrics")).json()) as { totals: Totals };
    expect(own.totals.upstreamCalls).toBe(created + upstreamReads);
  });
});
