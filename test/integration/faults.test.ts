import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { STORAGE_TIMEOUT_MS } from "../../src/core/tenancy/guard";
import {
  asAdmin,
  createTenant,
  type FaultRule,
  failingBinding,
  failingDatabase,
  fakeWaveline,
  healthyEnv,
  jsonBody,
  mintToken,
  ownJob,
  proxyFetch,
  type TestTenant,
  withBearer,
  withoutWatchers,
} from "./helpers";

/**
 * One test per fault: what the client gets while it lasts, that nothing was cached wrongly, and
 * that the first request after it is gone succeeds. Upstream faults hit a terminal job, the kind
 * every tier would keep: a wrongly cached error or half a job would show on the next read.
 * UPSTREAM_TIMEOUT_MS is 1500 in the test pool (vitest.config.ts).
 */

const RESULT = { invoice: "INV-77", total: 12.5 };

let acme: TestTenant;
beforeAll(async () => {
  acme = await createTenant("faulty");
});
afterEach(() => vi.restoreAllMocks());

/** A COMPLETED job on the fake, read by nobody yet. */
async function terminalJob(label: string, owner = acme): Promise<string> {
  const id = `fault-${label.replace(/\W+/g, "-")}-${crypto.randomUUID()}`;
  await fakeWaveline.createJob({ id, status: "COMPLETED", pages: 1, result: RESULT });
  await ownJob(owner.id, id);
  return id;
}

const read = (id: string, tenant = acme) => proxyFetch(`/jobs/${id}`, tenant.auth());
const kvEntry = (id: string) => env.JOB_CACHE.get(`job:${id}`);
const upstreamCalls = async (id: string) => (await fakeWaveline.calls(id)).length;

async function expectRealJob(response: Response, id: string, xCache: string | RegExp) {
  expect(response.status).toBe(200);
  expect(response.headers.get("X-Cache")).toMatch(xCache);
  expect(await response.json()).toMatchObject({ id, status: "COMPLETED", result: RESULT });
}

async function expectError(response: Response, status: number, error: string, code: string) {
  expect(response.status).toBe(status);
  expect(await response.json()).toEqual({ error, code });
}

describe("the upstream failing on a job read", () => {
  interface UpstreamFault {
    fault: string;
    rule: Omit<FaultRule, "match" | "times">;
    /** Upstream calls the read makes: the fault lasts exactly that long, then it is gone. */
    attempts: number;
    status: number;
    error: string;
    code: string;
    retryAfter?: string;
  }

  const faults: UpstreamFault[] = [
    {
      fault: "500",
      rule: { mode: "status", status: 500 },
      attempts: 1,
      status: 502,
      error: "upstream error",
      code: "upstream_error",
    },
    {
      fault: "429",
      rule: { mode: "status", status: 429, headers: { "Retry-After": "7" } },
      attempts: 1,
      status: 503,
      error: "upstream is busy, retry later",
      code: "upstream_unavailable",
      retryAfter: "7",
    },
    {
      fault: "malformed JSON",
      rule: { mode: "malformed" },
      attempts: 1,
      status: 502,
      error: "upstream sent an invalid answer",
      code: "upstream_error",
    },
    {
      fault: "an off-schema job",
      rule: { mode: "offschema" },
      attempts: 1,
      status: 502,
      error: "upstream sent an invalid answer",
      code: "upstream_error",
    },
    {
      // The connection dies mid-body: a network error, so the GET is retried once.
      fault: "a truncated body",
      rule: { mode: "truncate" },
      attempts: 2,
      status: 502,
      error: "upstream unreachable",
      code: "upstream_error",
    },
    {
      fault: "a connection reset",
      rule: { mode: "drop" },
      attempts: 2,
      status: 502,
      error: "upstream unreachable",
      code: "upstream_error",
    },
    {
      fault: "slow beyond UPSTREAM_TIMEOUT_MS",
      rule: { mode: "delay", delayMs: 5000 },
      attempts: 1,
      status: 504,
      error: "upstream did not answer in time",
      code: "upstream_timeout",
    },
    {
      fault: "hanging",
      rule: { mode: "hang" },
      attempts: 1,
      status: 504,
      error: "upstream did not answer in time",
      code: "upstream_timeout",
    },
  ];

  it.each(faults.map((fault) => [fault.fault, fault.status, fault] as const))(
    "%s: %i, nothing cached, the next read is the real job",
    async (_, __, fault) => {
      const id = await terminalJob(fault.fault);
      await fakeWaveline.fault({ match: id, ...fault.rule, times: fault.attempts });
      const started = Date.now();

      const failed = await read(id);

      // Within the budget of one upstream call, retry included.
      expect(Date.now() - started).toBeLessThan(3000);
      expect(failed.headers.get("Retry-After")).toBe(fault.retryAfter ?? null);
      expect(failed.headers.get("X-Cache")).toBeNull();
      await expectError(failed, fault.status, fault.error, fault.code);
      expect(await upstreamCalls(id)).toBe(fault.attempts);
      expect(await kvEntry(id)).toBeNull();

      // No tier kept anything: the next read goes upstream, and then the job is cached as usual.
      await expectRealJob(await read(id), id, "MISS");
      await expectRealJob(await read(id), id, /^HIT; tier=/);
      expect(await upstreamCalls(id)).toBe(fault.attempts + 1);
      expect(await kvEntry(id)).toContain('"INV-77"');
    },
  );

  it("slow within UPSTREAM_TIMEOUT_MS: 200, and the job cached as usual", async () => {
    const id = await terminalJob("slow");
    await fakeWaveline.fault({ match: id, mode: "delay", delayMs: 400, times: 1 });

    const slow = await read(id);

    await expectRealJob(slow, id, "MISS");
    expect(await kvEntry(id)).toContain('"INV-77"');
    await expectRealJob(await read(id), id, /^HIT; tier=/);
    expect(await upstreamCalls(id)).toBe(1);
  });

  it("a huge body (a terminal job with a 5 MiB result): 200, and cached", async () => {
    const id = await terminalJob("huge");
    await fakeWaveline.fault({ match: id, mode: "huge", bytes: 5 * 1024 * 1024, times: 1 });

    const first = await read(id);
    const body = await first.text();

    expect(first.status).toBe(200);
    expect(first.headers.get("X-Cache")).toBe("MISS");
    const job = JSON.parse(body) as { id: string; result: { text: string } };
    expect(job.id).toBe(id);
    expect(job.result.text).toHaveLength(5 * 1024 * 1024);
    expect((await kvEntry(id))?.length).toBeGreaterThan(5 * 1024 * 1024);
    // Too big for this isolate's memory tier (1 MiB an entry): served from the Cache API.
    const second = await read(id);
    expect(second.headers.get("X-Cache")).toBe("HIT; tier=cache");
    expect(await second.text()).toBe(body);
    expect(await upstreamCalls(id)).toBe(1);
  });
});

describe("KV failing", () => {
  it("throwing on reads and writes: 200 from upstream; after recovery, reads still 200", async () => {
    const id = await terminalJob("kv-throws");
    const kv = failingBinding(env.JOB_CACHE, ["getWithMetadata", "put"]);
    const bindings = withoutWatchers({ ...env, JOB_CACHE: kv.binding });
    kv.fail("throw");

    await expectRealJob(await proxyFetch(`/jobs/${id}`, acme.auth(), bindings), id, "MISS");

    kv.recover();
    expect(await kvEntry(id)).toBeNull();
    await expectRealJob(await proxyFetch(`/jobs/${id}`, acme.auth(), bindings), id, /^HIT; tier=/);
    expect(await upstreamCalls(id)).toBe(1);
  });

  it("hanging on reads: 200 from upstream within a few hundred ms; after recovery, 200", async () => {
    const id = await terminalJob("kv-hangs");
    const kv = failingBinding(env.JOB_CACHE, ["getWithMetadata"]);
    const bindings = withoutWatchers({ ...env, JOB_CACHE: kv.binding });
    kv.fail("hang");
    const started = Date.now();

    await expectRealJob(await proxyFetch(`/jobs/${id}`, acme.auth(), bindings), id, "MISS");

    // KV reads are capped at 300 ms: a stalled KV is a miss, not a stalled request.
    expect(Date.now() - started).toBeLessThan(1500);
    kv.recover();
    await expectRealJob(await proxyFetch(`/jobs/${id}`, acme.auth(), bindings), id, /^HIT; tier=/);
    expect(await kvEntry(id)).toContain('"INV-77"');
  });
});

describe("D1 throwing", () => {
  const cases: [string, () => Promise<{ id: string; init: RequestInit }>][] = [
    [
      "an API key this isolate has not seen",
      async () => {
        const tenant = await createTenant("d1-fresh-key");
        return { id: await terminalJob("d1-fresh-key-job", tenant), init: tenant.auth() };
      },
    ],
    [
      "a browser token of a tenant this isolate has not looked up",
      async () => {
        const tenant = await createTenant("d1-token");
        const token = await mintToken(tenant);
        return { id: await terminalJob("d1-token-job", tenant), init: withBearer(token) };
      },
    ],
    [
      "a known API key reading a job whose owner this isolate has not looked up",
      async () => {
        const tenant = await createTenant("d1-known-key");
        expect((await proxyFetch("/jobs", tenant.auth())).status).toBe(200);
        return { id: await terminalJob("d1-known-key-job", tenant), init: tenant.auth() };
      },
    ],
  ];

  it.each(cases)(
    "fails closed for %s: 503, never 200, 401 nor 404; 200 once D1 is back",
    async (_, setUp) => {
      const { id, init } = await setUp();
      const d1 = failingDatabase();
      const bindings = { ...env, DB: d1.db };
      d1.fail("throw");

      const refused = await proxyFetch(`/jobs/${id}`, init, bindings);

      expect(refused.headers.get("Retry-After")).toBe("5");
      await expectError(refused, 503, "storage is unavailable, retry later", "storage_unavailable");
      expect(await upstreamCalls(id)).toBe(0);

      // The outage was not remembered as an unknown key, tenant or job.
      d1.recover();
      await expectRealJob(await proxyFetch(`/jobs/${id}`, init, bindings), id, "MISS");
    },
  );
});

describe("D1 hanging", () => {
  it("answers 503 within STORAGE_TIMEOUT_MS instead of hanging; 200 once D1 answers again", async () => {
    const tenant = await createTenant("d1-hangs");
    const id = await terminalJob("d1-hangs-job", tenant);
    const d1 = failingDatabase();
    const bindings = { ...env, DB: d1.db };
    d1.fail("hang");
    const started = Date.now();

    const refused = await proxyFetch(`/jobs/${id}`, tenant.auth(), bindings);

    await expectError(refused, 503, "storage is unavailable, retry later", "storage_unavailable");
    expect(Date.now() - started).toBeLessThan(STORAGE_TIMEOUT_MS + 1000);
    expect(await upstreamCalls(id)).toBe(0);
    d1.recover();
    await expectRealJob(await proxyFetch(`/jobs/${id}`, tenant.auth(), bindings), id, "MISS");
  });
});

describe("the rate limiter's Durable Object unavailable", () => {
  it("refuses creations and reads with 503, never unlimited, and creates nothing upstream; both work once it is back", async () => {
    const tenant = await createTenant("limiter-down");
    const patched = await proxyFetch(
      `/admin/tenants/${tenant.id}`,
      asAdmin(
        jsonBody(
          { rateLimits: { readsPerMinute: 100, createsPerMinute: 100 } },
          { method: "PATCH" },
        ),
      ),
    );
    expect(patched.status).toBe(200);
    const id = await terminalJob("limiter-down-read", tenant);
    vi.spyOn(env.RATE_LIMITER, "get").mockReturnValue({
      take: () => Promise.reject(new Error("Durable Object is overloaded")),
    } as never);
    const upstream = vi.spyOn(globalThis, "fetch");
    const document = { fileName: "limited.txt", contentType: "text/plain", content: "words" };

    // Creations go to the healthy fake: other files fault every /extract-document call.
    const create = () =>
      proxyFetch("/extract-document", tenant.auth(jsonBody(document)), healthyEnv);

    const refused = await create();

    expect(refused.headers.get("Retry-After")).toBe("5");
    await expectError(
      refused,
      503,
      "rate limiter is unavailable, retry later",
      "rate_limiter_unavailable",
    );
    expect(upstream.mock.calls.map(([input]) => String(input))).not.toContainEqual(
      expect.stringContaining("/extract-document"),
    );
    expect(await recordedJobs(tenant.id)).toEqual([id]);
    // An isolate's first read of a tenant goes ahead of its first lease, which it asks for after
    // the answer: that lease failing, every read after it is refused until the limiter is back.
    await expectRealJob(await read(id, tenant), id, "MISS");
    for (let i = 0; i < 3; i++) {
      const unlimited = await read(id, tenant);
      expect(unlimited.headers.get("Retry-After")).toBe("5");
      await expectError(
        unlimited,
        503,
        "rate limiter is unavailable, retry later",
        "rate_limiter_unavailable",
      );
    }

    vi.restoreAllMocks();
    await expectRealJob(await read(id, tenant), id, /^HIT/);
    const created = await create();
    expect(created.status).toBe(201);
    expect(await recordedJobs(tenant.id)).toHaveLength(2);
  });
});

describe("the failed-authentication limiter unavailable", () => {
  it("still refuses a bad credential with 401, and lets a good one through", async () => {
    const id = await terminalJob("auth-limiter-down");
    const limiter = failingBinding(env.AUTH_FAILURE_LIMITER, ["limit"]);
    const bindings = { ...env, AUTH_FAILURE_LIMITER: limiter.binding };
    limiter.fail("throw");

    const refused = await proxyFetch(`/jobs/${id}`, withBearer(`wlp_${"C".repeat(43)}`), bindings);

    await expectError(refused, 401, "missing or invalid credentials", "authentication_failed");
    await expectRealJob(await proxyFetch(`/jobs/${id}`, acme.auth(), bindings), id, "MISS");
    limiter.recover();
    expect((await proxyFetch(`/jobs/${id}`, withBearer("still-wrong"), bindings)).status).toBe(401);
  });
});

async function recordedJobs(tenantId: string): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT id FROM jobs WHERE tenant_id = ?")
    .bind(tenantId)
    .all<{ id: string }>();
  return results.map((row) => row.id);
}

describe("an admin change whose batch fails in D1", () => {
  /**
   * The real D1 refuses one statement of the batch: a trigger aborts an insert into `audit_log`
   * (the entry) or the write to `tenants`/`api_keys` (the change) for this tenant only. D1 runs a
   * batch as one transaction, so neither may remain; an entry written in a batch or call of its
   * own would.
   */
  async function refusing(table: string, event: "INSERT" | "UPDATE", tenantId: string) {
    const name = `fault_${crypto.randomUUID().replaceAll("-", "")}`;
    await env.DB.prepare(
      `CREATE TRIGGER ${name} BEFORE ${event} ON ${table} WHEN NEW.tenant_id = '${tenantId}'
       BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
    ).run();
    return { recover: () => env.DB.prepare(`DROP TRIGGER ${name}`).run() };
  }

  const admin = (path: string, init?: RequestInit) => proxyFetch(path, asAdmin(init));
  async function entries(tenantId: string, action: string): Promise<unknown[]> {
    const response = await admin(`/admin/audit?tenantId=${tenantId}`);
    expect(response.status).toBe(200);
    const { items } = (await response.json()) as { items: { action: string }[] };
    return items.filter((entry) => entry.action === action);
  }
  const snapshot = async (path: string) => {
    const response = await admin(path);
    expect(response.status).toBe(200);
    return response.json();
  };

  interface AdminChange {
    change: string;
    action: string;
    /** What the change touches, read back by the operator. */
    state: (tenantId: string) => string;
    send: (tenantId: string) => Promise<Response>;
    status: number;
    /** The table and event of the change's own write, for the trigger that refuses it. */
    write: [table: string, event: "INSERT" | "UPDATE"];
  }
  const changes: AdminChange[] = [
    {
      change: "a tenant update",
      action: "tenant.update",
      state: (id) => `/admin/tenants/${id}`,
      send: (id) =>
        admin(
          `/admin/tenants/${id}`,
          jsonBody({ budget: { pagesPerMonth: 77 } }, { method: "PATCH" }),
        ),
      status: 200,
      write: ["tenants", "UPDATE"],
    },
    {
      change: "a key creation",
      action: "key.create",
      state: (id) => `/admin/tenants/${id}/keys`,
      send: (id) => admin(`/admin/tenants/${id}/keys`, jsonBody({ name: "audited" })),
      status: 201,
      write: ["api_keys", "INSERT"],
    },
  ];
  const refusals: { refused: string; refusedWrite: (c: AdminChange) => AdminChange["write"] }[] = [
    { refused: "its audit entry", refusedWrite: () => ["audit_log", "INSERT"] },
    { refused: "the change itself", refusedWrite: (c) => c.write },
  ];

  describe.each(changes)("$change", (c) => {
    it.each(refusals)(
      "refused at $refused: 503 storage_unavailable, neither the change nor its entry; both once D1 takes it",
      async ({ refusedWrite }) => {
        const tenant = await createTenant(`audit-batch-${c.action}`);
        const before = await snapshot(c.state(tenant.id));
        const logged = await entries(tenant.id, c.action);
        const [table, event] = refusedWrite(c);
        const fault = await refusing(table, event, tenant.id);

        try {
          const refused = await c.send(tenant.id);
          expect(refused.headers.get("Retry-After")).toBe("5");
          await expectError(
            refused,
            503,
            "storage is unavailable, retry later",
            "storage_unavailable",
          );
          expect(await snapshot(c.state(tenant.id))).toEqual(before);
          expect(await entries(tenant.id, c.action)).toEqual(logged);
        } finally {
          await fault.recover();
        }

        const retried = await c.send(tenant.id);
        expect(retried.status).toBe(c.status);
        expect(await snapshot(c.state(tenant.id))).not.toEqual(before);
        expect(await entries(tenant.id, c.action)).toHaveLength(logged.length + 1);
      },
    );
  });
});
