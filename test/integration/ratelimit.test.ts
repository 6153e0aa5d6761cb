import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { takeTokens } from "../../src/core/ratelimit/bucket";
import {
  asAdmin,
  createTenant,
  jsonBody,
  mintToken,
  ownedJobId,
  ownJob,
  proxyFetch,
  switchableStubs,
  type TestTenant,
  uniqueJobId,
  withBearer,
} from "./helpers";

const DOCUMENT = { fileName: "limited.txt", contentType: "text/plain", content: "a few words" };

async function limitedTenant(
  name: string,
  rateLimits: {
    readsPerMinute?: number;
    createsPerMinute?: number;
    endUserReadsPerMinute?: number;
    endUserCreatesPerMinute?: number;
  },
) {
  const tenant = await createTenant(name);
  const response = await proxyFetch(
    `/admin/tenants/${tenant.id}`,
    asAdmin(jsonBody({ rateLimits }, { method: "PATCH" })),
  );
  expect(await response.json()).toMatchObject({ rateLimits });
  return tenant;
}

const create = (tenant: TestTenant) =>
  proxyFetch("/extract-document", tenant.auth(jsonBody(DOCUMENT)));

async function recordedJobs(tenantId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM jobs WHERE tenant_id = ?")
    .bind(tenantId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe("job creation limits", () => {
  it("are exact: the creation over the limit is a 429 with Retry-After and RateLimit headers", async () => {
    const tenant = await limitedTenant("creates-3", { createsPerMinute: 3 });

    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await create(tenant)).status);
    const refused = await create(tenant);

    expect(statuses).toEqual([201, 201, 201]);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({
      error: "rate limit exceeded: 3 creates per minute",
      code: "rate_limited",
    });
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(refused.headers.get("RateLimit-Limit")).toBe("3");
    expect(refused.headers.get("RateLimit-Remaining")).toBe("0");
    expect(Number(refused.headers.get("RateLimit-Reset"))).toBeGreaterThan(0);
    expect(await recordedJobs(tenant.id)).toBe(3);
  });

  it("stay exact under concurrency: 10 creations at once with a limit of 4 create 4 jobs", async () => {
    const tenant = await limitedTenant("creates-4-concurrent", { createsPerMinute: 4 });

    const responses = await Promise.all(Array.from({ length: 10 }, () => create(tenant)));

    expect(responses.filter((response) => response.status === 201)).toHaveLength(4);
    expect(responses.filter((response) => response.status === 429)).toHaveLength(6);
    expect(await recordedJobs(tenant.id)).toBe(4);
  });

  it("count a request refused before it reached upstream (bad body) like any other", async () => {
    const tenant = await limitedTenant("creates-1-bad-body", { createsPerMinute: 1 });

    const bad = await proxyFetch(
      "/extract-document",
      tenant.auth({
        method: "POST",
        body: "not json",
        headers: { "Content-Type": "application/json" },
      }),
    );

    expect(bad.status).toBe(400);
    expect((await create(tenant)).status).toBe(429);
  });

  it("are per tenant and separate from reads", async () => {
    const tenant = await limitedTenant("creates-1", { createsPerMinute: 1 });
    const other = await limitedTenant("creates-1-other", { createsPerMinute: 1 });
    const job = await ownedJobId(tenant, "still-readable");

    expect((await create(tenant)).status).toBe(201);
    expect((await create(tenant)).status).toBe(429);

    expect((await create(other)).status).toBe(201);
    expect((await proxyFetch(`/jobs/${job}`, tenant.auth())).status).toBe(200);
  });
});

describe("read limits", () => {
  it("refuse the read over the limit, and say how many are left before that", async () => {
    const tenant = await limitedTenant("reads-30", { readsPerMinute: 30 });
    const job = await ownedJobId(tenant, "read-limited");

    const remaining: string[] = [];
    for (let i = 0; i < 30; i++) {
      const response = await proxyFetch(`/jobs/${job}`, tenant.auth());
      expect(response.status).toBe(200);
      remaining.push(response.headers.get("RateLimit-Remaining") ?? "");
    }
    const refused = await proxyFetch(`/jobs/${job}`, tenant.auth());

    expect(remaining.slice(0, 3)).toEqual(["29", "28", "27"]);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({
      error: "rate limit exceeded: 30 reads per minute",
      code: "rate_limited",
    });
  });

  it("never let a tenant read more than its limit, however the reads are spread", async () => {
    const tenant = await limitedTenant("reads-120", { readsPerMinute: 120 });
    const job = await ownedJobId(tenant, "read-burst");

    const responses = await Promise.all(
      Array.from({ length: 200 }, () => proxyFetch(`/jobs/${job}`, tenant.auth())),
    );

    const served = responses.filter((response) => response.status === 200).length;
    expect(served).toBeLessThanOrEqual(120);
    expect(served).toBeGreaterThan(100);
    expect(responses.every((response) => [200, 429].includes(response.status))).toBe(true);
  });

  it("return to the proxy's default when reset to null", async () => {
    const tenant = await limitedTenant("reads-reset", { readsPerMinute: 5 });

    const response = await proxyFetch(
      `/admin/tenants/${tenant.id}`,
      asAdmin(jsonBody({ rateLimits: { readsPerMinute: null } }, { method: "PATCH" })),
    );

    expect(await response.json()).toMatchObject({
      rateLimits: { readsPerMinute: null, createsPerMinute: null },
    });
  });
});

/** `count` reads of `job` one after another with `credential`: their statuses. */
async function readStatuses(credential: string, job: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    statuses.push((await proxyFetch(`/jobs/${job}`, withBearer(credential))).status);
  }
  return statuses;
}

/** A job of `subject`, and a browser token of that end user (anonymous: a token without `sub`). */
async function endUser(tenant: TestTenant, subject: string | undefined) {
  const job = uniqueJobId(`end-user-${subject ?? "anonymous"}`);
  await ownJob(tenant.id, job, subject ?? null);
  const token = await mintToken(tenant, {
    ...(subject === undefined ? {} : { sub: subject }),
    scopes: ["jobs:read", "jobs:create"],
  });
  return { job, token };
}

describe("end users' shares of the tenant's limits", () => {
  it("refuse a noisy end user at a quarter of the tenant's reads while the others, and the backend, read on", async () => {
    const tenant = await limitedTenant("shares-reads", { readsPerMinute: 40 });
    const noisy = await endUser(tenant, "noisy");
    const quiet = await endUser(tenant, "quiet");
    const backendJob = await ownedJobId(tenant, "backend");

    const noisyStatuses = await readStatuses(noisy.token, noisy.job, 15);
    const refused = await proxyFetch(`/jobs/${noisy.job}`, withBearer(noisy.token));

    expect(noisyStatuses.filter((status) => status === 200)).toHaveLength(10);
    expect(noisyStatuses.slice(10)).toEqual([429, 429, 429, 429, 429]);
    expect(await refused.json()).toEqual({
      error: "rate limit exceeded: 10 reads per minute",
      code: "rate_limited",
    });
    expect(refused.headers.get("RateLimit-Limit")).toBe("10");
    expect(await readStatuses(quiet.token, quiet.job, 10)).toEqual(Array(10).fill(200));
    expect(await readStatuses(tenant.key, backendJob, 15)).toEqual(Array(15).fill(200));
  });

  it("follow the tenant's setting, and put every token without `sub` in one bucket", async () => {
    const tenant = await limitedTenant("shares-set", {
      readsPerMinute: 100,
      endUserReadsPerMinute: 3,
    });
    const first = await endUser(tenant, undefined);
    const second = await endUser(tenant, undefined);
    const named = await endUser(tenant, "named");

    expect(await readStatuses(first.token, first.job, 2)).toEqual([200, 200]);
    expect(await readStatuses(second.token, second.job, 2)).toEqual([200, 429]);
    expect(await readStatuses(named.token, named.job, 4)).toEqual([200, 200, 200, 429]);
  });

  it("refuse a noisy end user's creations while another's go through", async () => {
    const tenant = await limitedTenant("shares-creates", {
      createsPerMinute: 10,
      endUserCreatesPerMinute: 2,
    });
    const noisy = await endUser(tenant, "noisy-creator");
    const quiet = await endUser(tenant, "quiet-creator");
    const createAs = (token: string) =>
      proxyFetch("/extract-document", withBearer(token, jsonBody(DOCUMENT)));
    const owned = await recordedJobs(tenant.id);

    const noisyStatuses = [];
    for (let i = 0; i < 4; i++) noisyStatuses.push((await createAs(noisy.token)).status);

    expect(noisyStatuses).toEqual([201, 201, 429, 429]);
    expect((await createAs(quiet.token)).status).toBe(201);
    expect((await create(tenant)).status).toBe(201);
    expect(await recordedJobs(tenant.id)).toBe(owned + 4);
  });
});

describe("a refusal", () => {
  it("is repeated by the isolate until Retry-After without asking the tenant's object", async () => {
    const tenant = await createTenant("refusal-local");
    const limiter = switchableStubs(env.RATE_LIMITER, ["take"]);
    const bindings = { ...env, RATE_LIMITER: limiter.binding };
    const patched = await proxyFetch(
      `/admin/tenants/${tenant.id}`,
      asAdmin(
        jsonBody({ rateLimits: { readsPerMinute: 2, createsPerMinute: 1 } }, { method: "PATCH" }),
      ),
      bindings,
    );
    expect(patched.status).toBe(200);
    const job = await ownedJobId(tenant, "refusal-local");
    const owned = await recordedJobs(tenant.id);
    const read = () => proxyFetch(`/jobs/${job}`, tenant.auth(), bindings);
    const createJob = () =>
      proxyFetch("/extract-document", tenant.auth(jsonBody(DOCUMENT)), bindings);

    expect((await createJob()).status).toBe(201);
    expect((await createJob()).status).toBe(429);
    expect([(await read()).status, (await read()).status, (await read()).status]).toEqual([
      200, 200, 429,
    ]);
    // Past the lease's own lifetime, still well before a token comes back (30 s at 2 a minute).
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    limiter.fail("throw");

    const creation = await createJob();
    const reading = await read();

    expect(creation.status).toBe(429);
    expect(Number(creation.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(reading.status).toBe(429);
    expect(await recordedJobs(tenant.id)).toBe(owned + 1);
  });
});

describe("the token bucket", () => {
  it("refills continuously at the limit's rate and never above the limit", () => {
    const start = { want: 1, limitPerMinute: 60, partial: false, now: 0 };
    let { state, decision } = takeTokens(undefined, start);
    expect(decision).toMatchObject({ granted: 1, remaining: 59 });
    for (let i = 0; i < 59; i++) ({ state } = takeTokens(state, start));
    ({ state, decision } = takeTokens(state, start));
    expect(decision).toMatchObject({ granted: 0, remaining: 0, retryAfterSeconds: 1 });

    ({ decision } = takeTokens(state, { ...start, now: 10_000 }));
    expect(decision).toMatchObject({ granted: 1, remaining: 9 });
    ({ decision } = takeTokens(state, { ...start, now: 3_600_000 }));
    expect(decision.remaining).toBe(59);
  });

  it("grants part of a lease when partial grants are allowed, and caps saved tokens at a lowered limit", () => {
    const { state } = takeTokens(undefined, {
      want: 58,
      limitPerMinute: 60,
      partial: false,
      now: 0,
    });

    expect(
      takeTokens(state, { want: 5, limitPerMinute: 60, partial: true, now: 0 }).decision.granted,
    ).toBe(2);
    expect(
      takeTokens(state, { want: 5, limitPerMinute: 60, partial: false, now: 0 }).decision.granted,
    ).toBe(0);
    const full = takeTokens(undefined, {
      want: 0,
      limitPerMinute: 100,
      partial: false,
      now: 0,
    }).state;
    expect(
      takeTokens(full, { want: 1, limitPerMinute: 10, partial: false, now: 0 }).decision.remaining,
    ).toBe(9);
  });
});
