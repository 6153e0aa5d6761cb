import {
  createExecutionContext,
  evictAllDurableObjects,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { inject, vi } from "vitest";
import { worker as app } from "../../src/platform/cloudflare/worker";
import { TEST_ADMIN_TOKEN } from "../constants";

export const PROXY_ORIGIN = "https://proxy.example";

/**
 * A request to the app under test, in workerd with the real bindings. It calls the app directly:
 * the pool's `exports.default.fetch` slows down with every call (thousands of requests in one file
 * take minutes), so only `workerFetch` goes through the Worker's fetch handler.
 */
export function proxyFetch(
  path: string,
  init?: RequestInit,
  bindings: Env = env,
): Promise<Response> {
  return isolateFetch(app, path, init, bindings);
}

export type Isolate = typeof app;

/**
 * The Worker as a new isolate gets it: a fresh module graph (no memory tier, no memos), sharing
 * this location's Cache API and the real KV, D1 and Durable Objects.
 */
export async function freshIsolate(): Promise<Isolate> {
  vi.resetModules();
  // The new graph brings new Durable Object classes, and the vitest plugin breaks an object built
  // from the old ones on its next call: they start over from their storage instead, as after a deploy.
  await evictAllDurableObjects();
  return (await import("../../src/platform/cloudflare/worker")).worker;
}

/** `proxyFetch`, in the given isolate. */
export async function isolateFetch(
  isolate: Isolate,
  path: string,
  init?: RequestInit,
  bindings: Env = env,
): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await isolate.request(`${PROXY_ORIGIN}${path}`, init, bindings, ctx);
  // Work the Worker left for after the response (cache writes, bookkeeping) is done when this
  // returns, so tests see its effects without polling.
  await waitOnExecutionContext(ctx);
  return response;
}

/** The same request through the Worker's exported fetch handler, as production dispatches it. */
export function workerFetch(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(`${PROXY_ORIGIN}${path}`, init));
}

export function withBearer(credential: string, init: RequestInit = {}): RequestInit {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${credential}`);
  return { ...init, headers };
}

export function asAdmin(init: RequestInit = {}): RequestInit {
  return withBearer(TEST_ADMIN_TOKEN, init);
}

export function jsonBody(body: unknown, init: RequestInit = {}): RequestInit {
  const headers = new Headers(init.headers);
  headers.set("Content-Type", "application/json");
  return { method: "POST", ...init, headers, body: JSON.stringify(body) };
}

export interface TestTenant {
  id: string;
  key: string;
  keyId: string;
  /** RequestInit with this tenant's API key. */
  auth(init?: RequestInit): RequestInit;
}

/** A tenant and one API key, made through the admin API as an operator would. */
export async function createTenant(
  name: string,
  allowedOrigins: string[] = [],
): Promise<TestTenant> {
  const tenantResponse = await proxyFetch(
    "/admin/tenants",
    asAdmin(jsonBody({ name, allowedOrigins })),
  );
  if (tenantResponse.status !== 201)
    throw new Error(`tenant not created: ${tenantResponse.status}`);
  const tenant = (await tenantResponse.json()) as { id: string };
  const keyResponse = await proxyFetch(
    `/admin/tenants/${tenant.id}/keys`,
    asAdmin(jsonBody({ name: "test" })),
  );
  const key = (await keyResponse.json()) as { id: string; key: string };
  return { id: tenant.id, key: key.key, keyId: key.id, auth: (init) => withBearer(key.key, init) };
}

/** Gives a job to a tenant directly in D1, as the proxy records the jobs it creates. */
export async function ownJob(
  tenantId: string,
  jobId: string,
  subject: string | null = null,
  lastSeenStatus = "RUNNING",
): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO jobs (id, tenant_id, subject, type, file_name, created_at, status, pages, updated_at)
     VALUES (?, ?, ?, 'extract-document', 'test.pdf', ?, ?, 0, ?)`,
  )
    .bind(
      jobId,
      tenantId,
      subject,
      new Date().toISOString(),
      lastSeenStatus,
      new Date().toISOString(),
    )
    .run();
}

/** A browser token minted by the tenant's backend through POST /tokens. */
export async function mintToken(
  tenant: TestTenant,
  claims: Record<string, unknown> = {},
): Promise<string> {
  const response = await proxyFetch("/tokens", tenant.auth(jsonBody(claims)));
  if (response.status !== 201)
    throw new Error(`token not minted: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { token: string }).token;
}

/** A job id nobody else uses, so faults and call counts of parallel tests never mix. */
export function uniqueJobId(label: string): string {
  return `virtual-${label}-${crypto.randomUUID()}`;
}

export type FaultRule = {
  match: string;
  mode:
    | "status"
    | "delay"
    | "hang"
    | "drop"
    | "truncate"
    | "malformed"
    | "offschema"
    | "huge"
    | "endless"
    | "other-id"
    | "unknown-status";
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  delayMs?: number;
  times?: number;
  bytes?: number;
  /** Only requests whose body holds this (a unique fileName keeps creations apart). */
  bodyIncludes?: string;
};

export interface RecordedCall {
  at: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** The first 2 KiB of the body. */
  body: string;
}

/** The fake Waveline's control API (dev/fake-waveline.ts), reached over real HTTP. */
export const fakeWaveline = {
  origin: inject("wavelineOrigin"),
  async fault(rule: FaultRule): Promise<void> {
    const response = await fetch(`${this.origin}/__control/faults`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(rule),
    });
    if (response.status !== 201) throw new Error(`fault not set: ${response.status}`);
  },
  /** Moves a job the fake knows (seeded, created or control-made) to another status. */
  async updateJob(
    id: string,
    patch: { status?: string; pages?: number; result?: unknown },
  ): Promise<void> {
    const response = await fetch(`${this.origin}/__control/jobs/${encodeURIComponent(id)}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(patch),
    });
    if (response.status !== 200) throw new Error(`job not updated: ${response.status}`);
  },
  /** Makes a static job on the fake (it does not progress until updated). */
  async createJob(job: {
    id: string;
    status: string;
    pages?: number;
    result?: unknown;
    resultBytes?: number;
  }) {
    const response = await fetch(`${this.origin}/__control/jobs`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(job),
    });
    if (response.status !== 201) throw new Error(`job not created: ${response.status}`);
  },
  /** The next job created with this fileName gets this id. */
  async nextJobId(fileName: string, id: string): Promise<void> {
    const response = await fetch(`${this.origin}/__control/job-ids`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ fileName, id }),
    });
    if (response.status !== 201) throw new Error(`job id not set: ${response.status}`);
  },
  async calls(match: string, bodyIncludes = ""): Promise<RecordedCall[]> {
    const response = await fetch(
      `${this.origin}/__control/calls?match=${encodeURIComponent(match)}&bodyIncludes=${encodeURIComponent(bodyIncludes)}`,
    );
    const body = (await response.json()) as { calls: RecordedCall[] };
    return body.calls;
  },
};

/**
 * A second fake that no test injects faults into, for tests whose premise is a healthy upstream
 * (faults on the creation routes hit every creation of every file). `healthyEnv` points at it.
 */
export const healthyWaveline = { ...fakeWaveline, origin: inject("healthyWavelineOrigin") };
export const healthyEnv: Env = withoutWatchers({
  ...env,
  WAVELINE_API_URL: inject("healthyWavelineBaseUrl"),
});

/**
 * Bindings whose reads of running jobs go straight to Waveline. A job watcher is a Durable Object
 * with the env of the pool, so it never sees a test's own upstream settings or faulty bindings:
 * tests that change those for the Worker alone test the direct path, and say so with this.
 */
export function withoutWatchers(bindings: Env): Env {
  return { ...bindings, JOB_WATCHER: undefined as unknown as Env["JOB_WATCHER"] };
}

export const SEEDED = {
  completed: "00000000-0000-4000-8000-000000000001",
  running: "00000000-0000-4000-8000-000000000002",
  failed: "00000000-0000-4000-8000-000000000003",
  created: "00000000-0000-4000-8000-000000000004",
} as const;

/** A fresh job id already owned by the tenant (the fake answers it as a RUNNING job). */
export async function ownedJobId(tenant: TestTenant, label: string): Promise<string> {
  const id = uniqueJobId(label);
  await ownJob(tenant.id, id);
  return id;
}

/** A tenant with a finished job that this location and KV have cached, but no lookup of either. */
export async function tenantWithCachedJob(
  label: string,
): Promise<{ tenant: TestTenant; id: string }> {
  const tenant = await createTenant(label);
  const id = uniqueJobId(label);
  await fakeWaveline.createJob({ id, status: "COMPLETED", pages: 1, result: { total: 12 } });
  await ownJob(tenant.id, id, null, "COMPLETED");
  // The operator's read fills the job cache without looking up an owner or a key.
  const read = await proxyFetch(`/admin/jobs/${id}`, asAdmin());
  if (read.status !== 200) throw new Error(`job not cached: ${read.status}`);
  return { tenant, id };
}

/**
 * `count` tenants nobody here uses, each with two live (tagged) API keys and one origin, made by
 * SQL alone: the crowd that lookups whose cost grows with the tenants would read.
 */
export async function seedOtherTenants(count: number): Promise<void> {
  const at = "2026-01-01T00:00:00.000Z";
  const numbers = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})`;
  await env.DB.batch([
    env.DB.prepare(
      `${numbers} INSERT INTO tenants (id, name, created_at, updated_at)
       SELECT 'tnt_other_' || i, 'other ' || i, '${at}', '${at}' FROM n`,
    ),
    env.DB.prepare(
      `${numbers} INSERT INTO tenant_origins (tenant_id, origin)
       SELECT 'tnt_other_' || i, 'https://other-' || i || '.example' FROM n`,
    ),
    ...[1, 2].map((k) =>
      env.DB.prepare(
        `${numbers} INSERT INTO api_keys (id, tenant_id, name, prefix, hash, created_at, tagged)
         SELECT 'key_other_${k}_' || i, 'tnt_other_' || i, 'k${k}', 'wlp_xxxxxx',
           lower(hex(randomblob(32))), '${at}', 1 FROM n`,
      ),
    ),
  ]);
}

/** A tenant that owns the fake Waveline's seeded jobs. */
export async function tenantOwningSeededJobs(name = "acme"): Promise<TestTenant> {
  const tenant = await createTenant(name);
  for (const id of Object.values(SEEDED)) await ownJob(tenant.id, id);
  return tenant;
}

/**
 * The real D1 binding, counting the statements prepared on it: each is one query, or one part of
 * a batch. Bindings with it get their own services in the app, as a new isolate would.
 */
export function countingDatabase(db: D1Database = env.DB): { db: D1Database; queries(): number } {
  let prepared = 0;
  const counted = new Proxy(db, {
    get(target, name) {
      if (name === "prepare") {
        return (sql: string) => {
          prepared++;
          return target.prepare(sql);
        };
      }
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db: counted, queries: () => prepared };
}

/** What a metered database saw: counts, not times. */
export interface DatabaseMeter {
  db: D1Database;
  /** Statements run, alone or as part of a batch. */
  queries(): number;
  /** Calls that went to the database: a statement run alone, or a whole batch. */
  roundTrips(): number;
  /** Round trips one after another: one made while another is in flight adds nothing. */
  sequentialRoundTrips(): number;
  /** D1's own count of rows read (`meta.rows_read`), summed. */
  rowsRead(): number;
  reset(): void;
}

/**
 * The real D1 binding, metered: statements, round trips, sequential round trips and rows read.
 * `delayMs` puts that much latency in front of every round trip, as a primary far away would.
 */
export function meteredDatabase(
  db: D1Database = env.DB,
  {
    delayMs = 0,
    around,
  }: {
    delayMs?: number;
    /** Wraps each round trip (after the delay is counted in): a caller's own meter of them. */
    around?: <R>(call: () => Promise<R>) => Promise<R>;
  } = {},
): DatabaseMeter {
  let queries = 0;
  let roundTrips = 0;
  let sequential = 0;
  let inFlight = 0;
  let rows = 0;
  const delayed = async <R>(call: () => Promise<R>): Promise<R> => {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    return call();
  };
  const trip = async <R>(statements: number, call: () => Promise<R>): Promise<R> => {
    if (inFlight === 0) sequential++;
    inFlight++;
    roundTrips++;
    queries += statements;
    try {
      return await (around ? around(() => delayed(call)) : delayed(call));
    } finally {
      inFlight--;
    }
  };
  const counted = <T>(result: D1Result<T>): D1Result<T> => {
    rows += result.meta.rows_read ?? 0;
    return result;
  };
  const statement = (real: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(real, {
      get(target, name) {
        if (name === "bind") return (...values: unknown[]) => statement(target.bind(...values));
        if (name === "all") return () => trip(1, async () => counted(await target.all()));
        if (name === "run") return () => trip(1, async () => counted(await target.run()));
        // first() hides D1's meta: read all rows instead, and answer the first as first() would.
        if (name === "first") {
          return (column?: string) =>
            trip(1, async () => {
              const result = (await target.all()) as D1Result<Record<string, unknown>>;
              const row = counted(result).results[0];
              if (row === undefined) return null;
              return column === undefined ? row : row[column];
            });
        }
        const value = Reflect.get(target, name, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const metered = new Proxy(db, {
    get(target, name) {
      if (name === "prepare") return (sql: string) => statement(target.prepare(sql));
      if (name === "batch") {
        return (statements: D1PreparedStatement[]) =>
          trip(statements.length, async () => {
            const results = await target.batch(statements);
            for (const result of results) counted(result);
            return results;
          });
      }
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return {
    db: metered,
    queries: () => queries,
    roundTrips: () => roundTrips,
    sequentialRoundTrips: () => sequential,
    rowsRead: () => rows,
    reset() {
      queries = 0;
      roundTrips = 0;
      sequential = 0;
      rows = 0;
    },
  };
}

/**
 * The real D1 binding, made to fail on demand: while failing, every query whose SQL `only` picks
 * (by default all: a statement's run, first, all or raw, or a batch holding one) throws, or never
 * answers; otherwise the real database answers.
 */
export function failingDatabase(
  db: D1Database = env.DB,
  only: (sql: string) => boolean = () => true,
): {
  db: D1Database;
  fail(how: "throw" | "hang"): void;
  recover(): void;
} {
  let failing: "throw" | "hang" | undefined;
  const guard =
    <A extends unknown[], R>(query: (...args: A) => Promise<R>, picked: boolean) =>
    (...args: A): Promise<R> => {
      if (picked && failing === "throw") {
        return Promise.reject(new Error("D1_ERROR: database unavailable"));
      }
      if (picked && failing === "hang") return new Promise<R>(() => {});
      return query(...args);
    };
  const sqlOf = new WeakMap<D1PreparedStatement, string>();
  const statement = (real: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const wrapped = new Proxy(real, {
      get(target, name) {
        if (name === "bind")
          return (...values: unknown[]) => statement(target.bind(...values), sql);
        const value = Reflect.get(target, name, target);
        if (typeof value !== "function") return value;
        const bound = value.bind(target);
        return ["run", "first", "all", "raw"].includes(String(name))
          ? guard(bound, only(sql))
          : bound;
      },
    });
    sqlOf.set(wrapped, sql);
    return wrapped;
  };
  const failingDb = new Proxy(db, {
    get(target, name) {
      if (name === "prepare") return (sql: string) => statement(target.prepare(sql), sql);
      if (name === "batch") {
        return (statements: D1PreparedStatement[]) =>
          guard(
            () => target.batch(statements),
            statements.some((s) => only(sqlOf.get(s) ?? "")),
          )();
      }
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return {
    db: failingDb,
    fail: (how) => {
      failing = how;
    },
    recover: () => {
      failing = undefined;
    },
  };
}

/**
 * A real Durable Object namespace whose stubs' `methods` (RPC calls) throw, never answer, or are
 * made but never answered ("late": the object does the work, its caller never hears back); every
 * other call reaches the real object.
 */
export function failingStubs<T extends Rpc.DurableObjectBranded | undefined>(
  real: DurableObjectNamespace<T>,
  how: "throw" | "hang" | "late",
  methods: readonly string[],
): DurableObjectNamespace<T> {
  const stubs = switchableStubs(real, methods);
  stubs.fail(how);
  return stubs.binding;
}

/** The same, failing only between `fail` and `recover`: a fault that starts mid-test. */
export function switchableStubs<T extends Rpc.DurableObjectBranded | undefined>(
  real: DurableObjectNamespace<T>,
  methods: readonly string[],
): {
  binding: DurableObjectNamespace<T>;
  fail(how: "throw" | "hang" | "late"): void;
  recover(): void;
} {
  let failing: "throw" | "hang" | "late" | undefined;
  const fault = (call: () => unknown) => {
    if (failing === "throw") return Promise.reject(new Error("object is down"));
    if (failing === "late") void Promise.resolve(call()).catch(() => {});
    return new Promise<never>(() => {});
  };
  const binding = new Proxy(real, {
    get(target, property) {
      const member = Reflect.get(target, property, target) as unknown;
      if (typeof member !== "function") return member;
      if (property !== "get") return member.bind(target);
      return (...args: Parameters<typeof target.get>) =>
        new Proxy(target.get(...args), {
          get(stub, name) {
            // Every property of a stub is a remote method, `bind` included: call through it.
            const call = stub as unknown as Record<string, (...values: unknown[]) => unknown>;
            const through = (...values: unknown[]) => call[String(name)]?.(...values);
            if (failing && methods.includes(String(name))) {
              return (...values: unknown[]) => fault(() => through(...values));
            }
            return through;
          },
        });
    },
  });
  return {
    binding,
    fail: (how) => {
      failing = how;
    },
    recover: () => {
      failing = undefined;
    },
  };
}

/** A real binding whose `methods` throw, or never answer, while failing; otherwise it answers. */
export function failingBinding<T extends object>(
  real: T,
  methods: readonly (keyof T & string)[],
): { binding: T; fail(how: "throw" | "hang"): void; recover(): void } {
  let failing: "throw" | "hang" | undefined;
  const binding = new Proxy(real, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      const bound = value.bind(target);
      if (!methods.includes(name as keyof T & string)) return bound;
      return (...args: unknown[]) => {
        if (failing === "throw") return Promise.reject(new Error(`${String(name)} is down`));
        if (failing === "hang") return new Promise(() => {});
        return bound(...args);
      };
    },
  });
  return {
    binding,
    fail: (how) => {
      failing = how;
    },
    recover: () => {
      failing = undefined;
    },
  };
}
