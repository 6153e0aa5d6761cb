import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  createTenant,
  fakeWaveline,
  ownJob,
  proxyFetch,
  type TestTenant,
  uniqueJobId,
  withoutWatchers,
} from "./helpers";

let acme: TestTenant;
let globex: TestTenant;
beforeAll(async () => {
  acme = await createTenant("acme");
  globex = await createTenant("globex");
});

async function recordedStatus(id: string): Promise<string | undefined> {
  const row = await env.DB.prepare("SELECT status FROM jobs WHERE id = ?")
    .bind(id)
    .first<{ status: string }>();
  return row?.status;
}

describe("an upstream answer about another job than the one asked", () => {
  it("is a 502, recorded nowhere and cached under neither id", async () => {
    const asked = uniqueJobId("asked");
    const answered = uniqueJobId("answered");
    for (const id of [asked, answered]) await fakeWaveline.createJob({ id, status: "COMPLETED" });
    await ownJob(acme.id, asked);
    await ownJob(globex.id, answered);
    await fakeWaveline.fault({ match: asked, mode: "other-id", body: answered, times: 1 });

    const response = await proxyFetch(`/jobs/${asked}`, acme.auth());

    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({
      error: "upstream answered another job",
      code: "upstream_error",
    });
    expect(await recordedStatus(asked)).toBe("RUNNING");
    expect(await env.JOB_CACHE.get(`job:${answered}`)).toBeNull();
    const theirs = await proxyFetch(`/jobs/${answered}`, globex.auth());
    expect(theirs.headers.get("X-Cache")).toBe("MISS");
    expect(await theirs.json()).toMatchObject({ id: answered });
    const again = await proxyFetch(`/jobs/${asked}`, acme.auth());
    expect(again.headers.get("X-Cache")).toBe("MISS");
    expect(await again.json()).toMatchObject({ id: asked, status: "COMPLETED" });
  });
});

describe("an upstream answer over MAX_UPSTREAM_BODY_BYTES", () => {
  const capped = withoutWatchers({ ...env, MAX_UPSTREAM_BODY_BYTES: String(1024 * 1024) });

  it("is a 502 as soon as the cap is passed, without reading the rest of an endless body", async () => {
    const id = uniqueJobId("endless");
    await ownJob(acme.id, id);
    await fakeWaveline.fault({ match: id, mode: "endless", times: 1 });

    const started = Date.now();
    const response = await proxyFetch(`/jobs/${id}`, acme.auth(), capped);

    // UPSTREAM_TIMEOUT_MS is 1500 in the test pool: reading on would end in a 504.
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({
      error: "upstream answer is too large",
      code: "upstream_error",
    });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("is a 502 from its Content-Length alone, and nothing is cached", async () => {
    const id = uniqueJobId("huge");
    await ownJob(acme.id, id);
    await fakeWaveline.fault({ match: id, mode: "huge", bytes: 2 * 1024 * 1024, times: 1 });

    const response = await proxyFetch(`/jobs/${id}`, acme.auth(), capped);

    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({
      error: "upstream answer is too large",
      code: "upstream_error",
    });
    expect(await env.JOB_CACHE.get(`job:${id}`)).toBeNull();
    expect(await recordedStatus(id)).toBe("RUNNING");
  });

  it("is validated as configuration: a cap that is not a number of bytes answers 503", async () => {
    const response = await proxyFetch("/health", {}, { ...env, MAX_UPSTREAM_BODY_BYTES: "lots" });

    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      error: "proxy is not configured: MAX_UPSTREAM_BODY_BYTES must be a number of bytes",
      code: "not_configured",
    });
  });
});

describe("a status the proxy does not know yet", () => {
  it("is passed through as not finished: 200, Retry-After, no-store, not kept in KV", async () => {
    const id = uniqueJobId("queued");
    await ownJob(acme.id, id);
    await fakeWaveline.fault({ match: id, mode: "unknown-status", times: 1 });

    const response = await proxyFetch(`/jobs/${id}`, acme.auth());

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id, status: "QUEUED" });
    expect(response.headers.get("Retry-After")).toBeTruthy();
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("ETag")).toBeNull();
    expect(await env.JOB_CACHE.get(`job:${id}`)).toBeNull();
    expect(await recordedStatus(id)).toBe("QUEUED");
    const listed = (await (await proxyFetch("/jobs?count=100", acme.auth())).json()) as {
      items: { id: string; status: string }[];
    };
    expect(listed.items.find((item) => item.id === id)?.status).toBe("QUEUED");
  });
});
