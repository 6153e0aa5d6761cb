import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { toCachedJob } from "../../src/core/cache/entry";
import { cacheApiTier } from "../../src/platform/cloudflare/cache-api-tier";
import { KV_MAX_VALUE_BYTES, kvTier } from "../../src/platform/cloudflare/kv-tier";
import type { Job } from "../../src/waveline/schema";
import {
  asAdmin,
  createTenant,
  fakeWaveline,
  ownJob,
  PROXY_ORIGIN,
  proxyFetch,
  type TestTenant,
  uniqueJobId,
} from "./helpers";

/** PENDING_CACHE_TTL_MS in the test pool (vitest.config.ts). */
const PENDING_TTL_MS = 500;

let acme: TestTenant;
let globex: TestTenant;
beforeAll(async () => {
  acme = await createTenant("acme");
  globex = await createTenant("globex");
});
afterEach(() => vi.restoreAllMocks());

/** A job on the fake with the given status, owned by acme. */
async function ownedJob(label: string, status: string, extra: Record<string, unknown> = {}) {
  const id = `cache-${label}-${crypto.randomUUID()}`;
  await fakeWaveline.createJob({ id, status, pages: 2, ...extra });
  await ownJob(acme.id, id);
  return id;
}

const upstreamCalls = async (id: string) => (await fakeWaveline.calls(id)).length;

function sampleJob(id: string, status: Job["status"]): Job {
  return {
    id,
    createdAt: "2026-11-30T08:00:00.000Z",
    status,
    type: "extract-document",
    pages: 1,
    fileName: "seeded-in-cache.pdf",
    result: status === "COMPLETED" ? { from: "cache" } : null,
    urls: { get: `https://waveline.ai/api/v1/jobs/${id}` },
  };
}

describe("terminal jobs", () => {
  it.each(["COMPLETED", "FAILED"])(
    "cost no upstream call after the first answer (%s)",
    async (status) => {
      const id = await ownedJob(status.toLowerCase(), status);

      const first = await proxyFetch(`/jobs/${id}`, acme.auth());
      expect(first.headers.get("X-Cache")).toBe("MISS");
      const firstBody = await first.text();

      for (let batch = 0; batch < 20; batch++) {
        const responses = await Promise.all(
          Array.from({ length: 50 }, () => proxyFetch(`/jobs/${id}`, acme.auth())),
        );
        for (const response of responses) {
          expect(response.status).toBe(200);
          expect(response.headers.get("X-Cache")).toMatch(/^HIT; tier=/);
          expect(await response.text()).toBe(firstBody);
        }
      }
      expect(await upstreamCalls(id)).toBe(1);
    },
  );

  it("are stored in KV with the job's status and pages", async () => {
    const id = await ownedJob("kv-stored", "COMPLETED");

    await proxyFetch(`/jobs/${id}`, acme.auth());

    const stored = await waitFor(
      () => env.JOB_CACHE.getWithMetadata(`job:${id}`, "text"),
      (v) => v.value !== null,
    );
    expect(stored.metadata).toMatchObject({ status: "COMPLETED", pages: 2 });
    expect(stored.value).toContain(`"id":"${id}"`);
  });

  it("are served from KV when this location has never seen them", async () => {
    const id = uniqueJobId("from-kv");
    // Recorded COMPLETED by the proxy that cached it elsewhere.
    await ownJob(acme.id, id, null, "COMPLETED");
    await kvTier(env.JOB_CACHE, silentLog).put(
      await toCachedJob(sampleJob(id, "COMPLETED")),
      60_000,
    );

    const response = await proxyFetch(`/jobs/${id}`, acme.auth());

    expect(response.headers.get("X-Cache")).toBe("HIT; tier=kv");
    expect(await response.json()).toMatchObject({
      id,
      result: { from: "cache" },
      urls: { get: `${PROXY_ORIGIN}/jobs/${id}` },
    });
    expect(await upstreamCalls(id)).toBe(0);
    // Filled on the way back: the next read stays in this isolate.
    expect((await proxyFetch(`/jobs/${id}`, acme.auth())).headers.get("X-Cache")).toBe(
      "HIT; tier=memory",
    );
  });

  it("are served from the Cache API of this location before KV", async () => {
    const id = uniqueJobId("from-cache-api");
    await ownJob(acme.id, id);
    await cacheApiTier(caches.default, silentLog).put(
      await toCachedJob(sampleJob(id, "FAILED")),
      60_000,
    );

    const response = await proxyFetch(`/jobs/${id}`, acme.auth());

    expect(response.headers.get("X-Cache")).toBe("HIT; tier=cache");
    expect(await response.json()).toMatchObject({ id, status: "FAILED" });
    expect(await upstreamCalls(id)).toBe(0);
  });

  it("carry a strong ETag and browser caching that revalidates, and answer 304 to a matching If-None-Match", async () => {
    const id = await ownedJob("etag", "COMPLETED");

    const first = await proxyFetch(`/jobs/${id}`, acme.auth());
    const etag = first.headers.get("ETag");
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(first.headers.get("Cache-Control")).toBe("private, no-cache");

    const revalidated = await proxyFetch(
      `/jobs/${id}`,
      acme.auth({ headers: { "If-None-Match": `"other", ${etag}` } }),
    );
    expect(revalidated.status).toBe(304);
    expect(await revalidated.text()).toBe("");
    expect(revalidated.headers.get("ETag")).toBe(etag);

    const weak = await proxyFetch(
      `/jobs/${id}`,
      acme.auth({ headers: { "If-None-Match": `W/${etag}` } }),
    );
    expect(weak.status).toBe(304);

    const stale = await proxyFetch(
      `/jobs/${id}`,
      acme.auth({ headers: { "If-None-Match": '"old"' } }),
    );
    expect(stale.status).toBe(200);
  });

  it("have a different ETag under /api/v1, whose urls.get differs", async () => {
    const id = await ownedJob("etag-mount", "COMPLETED");

    const root = await proxyFetch(`/jobs/${id}`, acme.auth());
    const v1 = await proxyFetch(`/api/v1/jobs/${id}`, acme.auth());

    expect(root.headers.get("ETag")).not.toBe(v1.headers.get("ETag"));
    expect(((await v1.json()) as { urls: { get: string } }).urls.get).toBe(
      `${PROXY_ORIGIN}/api/v1/jobs/${id}`,
    );
  });

  it("above KV's 25 MiB value limit are not written to KV", async () => {
    const big = await toCachedJob({
      ...sampleJob("huge", "COMPLETED"),
      result: { text: "x".repeat(KV_MAX_VALUE_BYTES) },
    });
    const small = await toCachedJob(sampleJob("small", "COMPLETED"));

    expect(kvTier(env.JOB_CACHE, silentLog).keeps(big)).toBe(false);
    expect(kvTier(env.JOB_CACHE, silentLog).keeps(small)).toBe(true);
  });

  it("are still 404 for another tenant once cached, with no cache header", async () => {
    const id = await ownedJob("cross-tenant", "COMPLETED");
    await proxyFetch(`/jobs/${id}`, acme.auth());

    const response = await proxyFetch(`/jobs/${id}`, globex.auth());

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "job not found", code: "job_not_found" });
    expect(response.headers.get("X-Cache")).toBeNull();
  });
});

describe("concurrent reads", () => {
  it("of a cold job share one upstream call", async () => {
    const id = await ownedJob("coalesced", "COMPLETED");
    await fakeWaveline.fault({ match: id, mode: "delay", delayMs: 300, times: 1 });

    const responses = await Promise.all(
      Array.from({ length: 100 }, () => proxyFetch(`/jobs/${id}`, acme.auth())),
    );

    expect(responses.every((response) => response.status === 200)).toBe(true);
    expect(await upstreamCalls(id)).toBe(1);
  });
});

describe("running jobs", () => {
  it("are answered no-store with a Retry-After hint, and never written to KV", async () => {
    const id = await ownedJob("pending-headers", "RUNNING");

    const response = await proxyFetch(`/jobs/${id}`, acme.auth());

    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("Retry-After")).toBe("1");
    expect(response.headers.get("ETag")).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await env.JOB_CACHE.get(`job:${id}`)).toBeNull();
  });

  it("cost about one upstream call per PENDING_CACHE_TTL_MS however many clients poll", async () => {
    const id = await ownedJob("storm", "RUNNING");
    const pollForMs = 2000;
    const deadline = Date.now() + pollForMs;
    let polls = 0;

    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (Date.now() < deadline) {
          const response = await proxyFetch(`/jobs/${id}`, acme.auth());
          expect(response.status).toBe(200);
          await response.arrayBuffer();
          polls++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }),
    );

    expect(polls).toBeGreaterThan(200);
    const calls = await fakeWaveline.calls(id);
    const gaps = calls.map((call, i) => call.at - (calls[i - 1]?.at ?? call.at));
    expect(calls.length, `upstream calls ${gaps.join(",")} ms apart`).toBeLessThanOrEqual(
      pollForMs / PENDING_TTL_MS + 1,
    );
  });

  it("are never looked up in KV, which only keeps terminal jobs", async () => {
    const id = await ownedJob("pending-no-kv", "RUNNING");
    const kvRead = vi.spyOn(env.JOB_CACHE, "getWithMetadata");

    await proxyFetch(`/jobs/${id}`, acme.auth());
    await proxyFetch(`/jobs/${id}`, acme.auth());

    expect(kvRead).not.toHaveBeenCalled();
  });

  it("cost no cache round trip at all when the pending cache is off", async () => {
    const id = await ownedJob("pending-cache-off", "RUNNING");
    const cacheRead = vi.spyOn(caches.default, "match");
    const kvRead = vi.spyOn(env.JOB_CACHE, "getWithMetadata");
    const noPendingCache = { ...env, PENDING_CACHE_TTL_MS: "0" };

    const first = await proxyFetch(`/jobs/${id}`, acme.auth(), noPendingCache);
    const second = await proxyFetch(`/jobs/${id}`, acme.auth(), noPendingCache);

    expect([first.headers.get("X-Cache"), second.headers.get("X-Cache")]).toEqual(["MISS", "MISS"]);
    expect(await upstreamCalls(id)).toBe(2);
    // The location's lookups of callers and owners share the Cache API: only job reads count.
    const jobReads = cacheRead.mock.calls.filter(
      ([request]) =>
        !String(request instanceof Request ? request.url : request).includes("lookups"),
    );
    expect(jobReads).toHaveLength(0);
    expect(kvRead).not.toHaveBeenCalled();
  });

  it("that finished since they were last seen are fetched once, then served from the cache", async () => {
    const id = await ownedJob("finished-since", "RUNNING");
    await proxyFetch(`/jobs/${id}`, acme.auth());
    await fakeWaveline.updateJob(id, { status: "COMPLETED" });
    await proxyFetch(`/jobs/${id}`, acme.auth(), { ...env, PENDING_CACHE_TTL_MS: "0" });

    const later = await proxyFetch(`/jobs/${id}`, acme.auth());

    expect(later.headers.get("X-Cache")).toMatch(/^HIT; tier=/);
    expect(((await later.json()) as { status: string }).status).toBe("COMPLETED");
    expect(await upstreamCalls(id)).toBe(2);
  });

  it("show a change to COMPLETED once PENDING_CACHE_TTL_MS has passed", async () => {
    const id = await ownedJob("progress", "RUNNING");
    await proxyFetch(`/jobs/${id}`, acme.auth());
    await fakeWaveline.updateJob(id, { status: "COMPLETED" });
    const now = Date.now();

    vi.spyOn(Date, "now").mockReturnValue(now + PENDING_TTL_MS - 100);
    const early = (await (await proxyFetch(`/jobs/${id}`, acme.auth())).json()) as {
      status: string;
    };
    expect(early.status).toBe("RUNNING");

    vi.spyOn(Date, "now").mockReturnValue(now + PENDING_TTL_MS + 1);
    const late = await proxyFetch(`/jobs/${id}`, acme.auth());
    expect(((await late.json()) as { status: string }).status).toBe("COMPLETED");
    expect(late.headers.get("X-Cache")).toBe("MISS");
  });
});

describe("when a cache tier fails", () => {
  it("a throwing Cache API and KV write still answer the job", async () => {
    const id = await ownedJob("writes-throw", "COMPLETED");
    vi.spyOn(caches.default, "match").mockRejectedValue(new Error("cache is down"));
    vi.spyOn(caches.default, "put").mockRejectedValue(new Error("cache is down"));
    vi.spyOn(env.JOB_CACHE, "put").mockRejectedValue(new Error("KV is down"));

    const response = await proxyFetch(`/jobs/${id}`, acme.auth());

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id, status: "COMPLETED" });
  });
});

describe("operators", () => {
  it("purge a job from every tier with DELETE /admin/cache/jobs/{id}", async () => {
    const id = await ownedJob("purged", "COMPLETED");
    await proxyFetch(`/jobs/${id}`, acme.auth());
    await waitFor(
      () => env.JOB_CACHE.get(`job:${id}`),
      (value) => value !== null,
    );

    const purge = await proxyFetch(`/admin/cache/jobs/${id}`, asAdmin({ method: "DELETE" }));

    expect(purge.status).toBe(204);
    expect(await env.JOB_CACHE.get(`job:${id}`)).toBeNull();
    const next = await proxyFetch(`/jobs/${id}`, acme.auth());
    expect(next.headers.get("X-Cache")).toBe("MISS");
    expect(await upstreamCalls(id)).toBe(2);
  });

  it("read any job, and bypass the cache with Cache-Control: no-cache", async () => {
    const id = await ownedJob("admin-read", "COMPLETED");

    const first = await proxyFetch(`/admin/jobs/${id}`, asAdmin());
    const cached = await proxyFetch(`/admin/jobs/${id}`, asAdmin());
    const bypassed = await proxyFetch(
      `/admin/jobs/${id}`,
      asAdmin({ headers: { "Cache-Control": "no-cache" } }),
    );

    expect(first.headers.get("X-Cache")).toBe("MISS");
    expect(cached.headers.get("X-Cache")).toMatch(/^HIT/);
    expect(bypassed.headers.get("X-Cache")).toBe("BYPASS");
    expect(await upstreamCalls(id)).toBe(2);
  });

  it("a tenant's no-cache does not bypass the cache", async () => {
    const id = await ownedJob("tenant-no-cache", "COMPLETED");
    await proxyFetch(`/jobs/${id}`, acme.auth());

    const response = await proxyFetch(
      `/jobs/${id}`,
      acme.auth({ headers: { "Cache-Control": "no-cache" } }),
    );

    expect(response.headers.get("X-Cache")).toMatch(/^HIT/);
    expect(await upstreamCalls(id)).toBe(1);
  });
});

const silentLog = { info() {}, warn() {}, error() {}, alert() {}, annotate() {} };

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let attempt = 0; attempt < 50 && !done(value); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    value = await read();
  }
  return value;
}

describe("what a browser may keep of a finished job", () => {
  it("must ask the proxy before every reuse, so another caller with the same ETag gets 404, not the job", async () => {
    const id = await ownedJob("shared-profile", "COMPLETED");
    const first = await proxyFetch(`/jobs/${id}`, acme.auth());
    const etag = first.headers.get("ETag") ?? "";
    const cacheControl = (first.headers.get("Cache-Control") ?? "").split(/\s*,\s*/);

    // Reuse without asking (max-age, immutable) would hand acme's job to whoever uses the
    // browser next: no-cache makes every reuse a conditional request the proxy authorises.
    expect(cacheControl).toEqual(expect.arrayContaining(["private", "no-cache"]));
    expect(cacheControl.some((directive) => /^max-age=[1-9]|^immutable$/.test(directive))).toBe(
      false,
    );
    const ifNoneMatch = { headers: { "If-None-Match": etag } };
    expect((await proxyFetch(`/jobs/${id}`, acme.auth(ifNoneMatch))).status).toBe(304);
    const otherUser = await proxyFetch(`/jobs/${id}`, globex.auth(ifNoneMatch));
    expect(otherUser.status).toBe(404);
    expect(await otherUser.json()).toEqual({ error: "job not found", code: "job_not_found" });
    expect((await proxyFetch(`/jobs/${id}`, ifNoneMatch)).status).toBe(401);
  });
});
