/**
 * The far-storage mode of `npm run bench` (bench/README.md, "Far storage"): storage work and time
 * per request with D1 and the Durable Objects far away, with no other tenants and with a seeded
 * crowd of them. Runs in workerd with the real bindings (bench/far-storage/vitest.config.ts);
 * statuses are checked, figures are handed to the benchmark, which judges them.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, inject, it, vi } from "vitest";
import {
  freshIsolate,
  type Isolate,
  isolateFetch,
  PROXY_ORIGIN,
  seedOtherTenants,
  tenantWithCachedJob,
  withBearer,
} from "../../../test/integration/helpers";
import {
  FAR_STORAGE_CASES,
  type FarStorageCase,
  type FarStorageFigures,
  type FarStoragePopulation,
  type StorageCost,
} from "../figures";
import { farStorage } from "./meter";

const settings = inject("farStorage");
/** Made-up keys, or preflights from unknown Origins, sent to one isolate: one a second. */
const UNKNOWN = 100;
const WARM_HITS = 100;
/** Cold isolates per cold case: its time is their median (a busy machine's timers are late). */
const COLD_SAMPLES = 5;
/** How long an isolate stays idle after its first request. */
const IDLE_MS = 100_000;

/** Requests through far storage, counted and timed; `vars` override the Worker's. */
function measured(vars: Partial<Env> = {}) {
  const storage = farStorage({ ...env, ...vars }, settings.delayMs);
  let requests = 0;
  let ms = 0;
  let maxMs = 0;
  let awaited = 0;
  return {
    /**
     * One request, timed to the end of its body (read here); work it leaves for after the answer
     * runs untimed.
     */
    async send(isolate: Isolate, path: string, init?: RequestInit): Promise<Response> {
      const ctx = createExecutionContext();
      const started = performance.now();
      const response = await isolate.request(`${PROXY_ORIGIN}${path}`, init, storage.env, ctx);
      await response.arrayBuffer();
      const took = performance.now() - started;
      awaited += storage.awaitedWithin(started, started + took);
      await waitOnExecutionContext(ctx);
      requests++;
      ms += took;
      maxMs = Math.max(maxMs, took);
      return response;
    },
    cost: (): StorageCost => ({
      samples: 1,
      requests,
      ...storage.cost(),
      awaitedRoundTrips: awaited,
      ms,
      maxMs,
    }),
    reset() {
      storage.reset();
      awaited = 0;
      requests = 0;
      ms = 0;
      maxMs = 0;
    },
  };
}

function expectHit(response: Response): void {
  expect(response.status).toBe(200);
  expect(response.headers.get("X-Cache")).toMatch(/^HIT/);
}

/** `count` requests, the clock moving on a second before each. */
async function oneASecond(count: number, request: (i: number) => Promise<void>): Promise<void> {
  const start = Date.now();
  const clock = vi.spyOn(Date, "now");
  try {
    for (let i = 0; i < count; i++) {
      clock.mockReturnValue(start + i * 1000);
      await request(i);
    }
  } finally {
    clock.mockRestore();
  }
}

/** From many addresses, as a spray of guesses comes: the failure limiter never steps in. */
const fromAddress = (i: number): RequestInit => ({
  headers: { "CF-Connecting-IP": `203.0.113.${i}` },
});

/** `measure` run `samples` times: each count's highest value, the median time. */
async function sampled(
  label: string,
  samples: number,
  measure: (label: string) => Promise<StorageCost>,
): Promise<StorageCost> {
  const costs: StorageCost[] = [];
  for (let i = 0; i < samples; i++) costs.push(await measure(`${label}-${i}`));
  const highest = (pick: (cost: StorageCost) => number) => Math.max(...costs.map(pick));
  const times = costs.map((cost) => cost.ms).sort((a, b) => a - b);
  return {
    samples,
    requests: highest((c) => c.requests),
    d1Queries: highest((c) => c.d1Queries),
    rowsRead: highest((c) => c.rowsRead),
    d1RoundTrips: highest((c) => c.d1RoundTrips),
    objectCalls: highest((c) => c.objectCalls),
    sequentialRoundTrips: highest((c) => c.sequentialRoundTrips),
    awaitedRoundTrips: highest((c) => c.awaitedRoundTrips),
    ms: times[Math.floor(samples / 2)] ?? 0,
    maxMs: highest((c) => c.maxMs),
  };
}

const measure: Record<FarStorageCase, (label: string) => Promise<StorageCost>> = {
  /** The first request of a new isolate, for a credential and job this location never looked up. */
  "cold-hit": (label) =>
    sampled(label, COLD_SAMPLES, async (sample) => {
      const { tenant, id } = await tenantWithCachedJob(sample);
      const run = measured();
      expectHit(await run.send(await freshIsolate(), `/jobs/${id}`, tenant.auth()));
      return run.cost();
    }),

  /** The same without a read limit: no lease to take, so D1's share alone. */
  "cold-hit-unlimited": (label) =>
    sampled(label, COLD_SAMPLES, async (sample) => {
      const { tenant, id } = await tenantWithCachedJob(sample);
      const run = measured({ READ_RATE_LIMIT_PER_MIN: "0" });
      expectHit(await run.send(await freshIsolate(), `/jobs/${id}`, tenant.auth()));
      return run.cost();
    }),

  /** The same, in a new isolate of a location where another isolate just looked both up. */
  "neighbour-hit": (label) =>
    sampled(label, COLD_SAMPLES, async (sample) => {
      const { tenant, id } = await tenantWithCachedJob(sample);
      expectHit(await isolateFetch(await freshIsolate(), `/jobs/${id}`, tenant.auth()));
      const run = measured();
      expectHit(await run.send(await freshIsolate(), `/jobs/${id}`, tenant.auth()));
      return run.cost();
    }),

  /** Back-to-back hits in an isolate that already served this credential and job once. */
  async "warm-hits"(label) {
    const { tenant, id } = await tenantWithCachedJob(label);
    const run = measured();
    const isolate = await freshIsolate();
    expectHit(await run.send(isolate, `/jobs/${id}`, tenant.auth()));
    run.reset();
    for (let i = 0; i < WARM_HITS; i++) {
      expectHit(await run.send(isolate, `/jobs/${id}`, tenant.auth()));
    }
    return run.cost();
  },

  /** Made-up keys, half tagged-looking, half like keys made before tags, one a second. */
  async "unknown-keys"() {
    const run = measured();
    const isolate = await freshIsolate();
    await oneASecond(UNKNOWN, async (i) => {
      const random = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(40))))
        .replaceAll("+", "-")
        .replaceAll("/", "_");
      const key = i % 2 === 0 ? `wlp_${random.slice(0, 54)}` : `wlp_${random.slice(0, 43)}`;
      const response = await run.send(isolate, "/jobs", withBearer(key, fromAddress(i)));
      expect(response.status).toBe(401);
    });
    return run.cost();
  },

  /** Preflights from Origins nobody lists, one a second. */
  async "unknown-origins"() {
    const run = measured();
    const isolate = await freshIsolate();
    await oneASecond(UNKNOWN, async () => {
      const response = await run.send(isolate, "/jobs", {
        method: "OPTIONS",
        headers: {
          Origin: `https://${crypto.randomUUID()}.example`,
          "Access-Control-Request-Method": "GET",
        },
      });
      expect(response.status).toBe(204);
    });
    return run.cost();
  },

  /** An isolate that served one hit, then no request for 100 s: every timer it set runs. */
  async idle(label) {
    const { tenant, id } = await tenantWithCachedJob(label);
    const run = measured();
    // Faked before the isolate starts, so that no timer it sets, at start or per request, escapes.
    vi.useFakeTimers();
    try {
      expectHit(await run.send(await freshIsolate(), `/jobs/${id}`, tenant.auth()));
      run.reset();
      await vi.advanceTimersByTimeAsync(IDLE_MS);
    } finally {
      vi.useRealTimers();
    }
    return run.cost();
  },
};

async function population(otherTenants: number, seedMs: number): Promise<FarStoragePopulation> {
  const cases = {} as Record<FarStorageCase, StorageCost>;
  for (const name of FAR_STORAGE_CASES)
    cases[name] = await measure[name](`${name}-${otherTenants}`);
  // The control: the meter sees a read of a whole table for what it is.
  const control = farStorage(env, 0);
  await control.env.DB.prepare("SELECT hash FROM api_keys").all();
  const wholeKeyTableRows = control.cost().rowsRead;
  expect(wholeKeyTableRows).toBeGreaterThanOrEqual(2 * otherTenants);
  return { otherTenants, seedMs, wholeKeyTableRows, cases };
}

it(`storage work per request with no other tenants and with ${settings.tenants}`, async () => {
  const figures: FarStorageFigures = { delayMs: settings.delayMs, populations: [] };
  figures.populations.push(await population(0, 0));
  if (settings.tenants > 0) {
    const started = performance.now();
    await seedOtherTenants(settings.tenants);
    figures.populations.push(await population(settings.tenants, performance.now() - started));
  }

  const handed = await fetch(settings.resultsUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(figures),
  });

  expect(handed.status).toBe(204);
});
