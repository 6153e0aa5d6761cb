/**
 * What the proxy counts for a tenant, as flat counters (`name -> number`) so that any two of
 * them merge by adding: an isolate's counts, a flush, a minute row, an hour row, a whole range.
 */
export type Tally = Record<string, number>;

/** Counters kept per end user (`sub`) too; the rest is kept per tenant only. */
export const CORE_COUNTERS = [
  "requests",
  "errors",
  "cacheHits",
  "upstreamCalls",
  "upstreamCallsSaved",
  "jobsCreated",
  "pagesBilled",
] as const;
export type CoreCounter = (typeof CORE_COUNTERS)[number];

/** Counters a request adds as it goes (`RequestScope.count`). */
export type RequestCounter =
  | CoreCounter
  | "cache:memory"
  | "cache:location"
  | "cache:kv"
  | "cache:miss"
  | "streamsOpened";

/** Counters the webhook outbox adds per delivery attempt. */
export type WebhookCounter = "webhooks:delivered" | "webhooks:retrying" | "webhooks:failed";

/**
 * Upper bounds (ms) of the request-time histogram's buckets; the last bucket counts the rest.
 * Fixed, so that histograms of any isolates and windows merge by adding bucket by bucket.
 */
export const DURATION_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/** A window's tally holds at most this many counters (routes are the only open-ended part). */
export const MAX_COUNTERS_PER_TALLY = 200;

export function durationBucket(ms: number): number {
  const index = DURATION_BUCKETS_MS.findIndex((bound) => ms <= bound);
  return index === -1 ? DURATION_BUCKETS_MS.length : index;
}

export function statusClass(status: number): string {
  return `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx`;
}

/** Adds `from` into `into`; a counter `into` lacks once it is full is dropped, not grown. */
export function addInto(into: Tally, from: Readonly<Tally>): Tally {
  let size = Object.keys(into).length;
  for (const [name, value] of Object.entries(from)) {
    if (!Number.isFinite(value) || value === 0) continue;
    if (into[name] === undefined) {
      if (size >= MAX_COUNTERS_PER_TALLY) continue;
      size++;
      into[name] = 0;
    }
    into[name] += value;
  }
  return into;
}

/** Only the counters kept per end user. */
export function coreOf(tally: Readonly<Tally>): Tally {
  const core: Tally = {};
  for (const name of CORE_COUNTERS) if (tally[name]) core[name] = tally[name];
  return core;
}

/**
 * The request time under which a share `q` (0.5, 0.95) of requests answered, as the upper bound of
 * the histogram bucket it falls in (the last bound for the open-ended last bucket); null if none.
 */
export function percentileMs(tally: Readonly<Tally>, q: number): number | null {
  const counts = durationCounts(tally);
  const total = counts.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  const bounds: readonly number[] = DURATION_BUCKETS_MS;
  const last = bounds.length - 1;
  let seen = 0;
  for (const [index, n] of counts.entries()) {
    seen += n;
    if (seen >= rank) return bounds[Math.min(index, last)] ?? null;
  }
  return bounds[last] ?? null;
}

export function durationCounts(tally: Readonly<Tally>): number[] {
  return Array.from(
    { length: DURATION_BUCKETS_MS.length + 1 },
    (_, i) => tally[`duration:${i}`] ?? 0,
  );
}

/** What `tally` says, in the shape the metrics routes answer (OpenAPI: `MetricsPoint`). */
export function metricsFields(tally: Readonly<Tally>) {
  const n = (name: string) => tally[name] ?? 0;
  const routes: Record<string, number> = {};
  for (const [name, value] of Object.entries(tally)) {
    if (name.startsWith("route:")) routes[name.slice("route:".length)] = value;
  }
  return {
    requests: n("requests"),
    cacheHits: n("cacheHits"),
    upstreamCalls: n("upstreamCalls"),
    upstreamCallsSaved: n("upstreamCallsSaved"),
    jobsCreated: n("jobsCreated"),
    pagesBilled: n("pagesBilled"),
    errors: n("errors"),
    statusClasses: {
      "2xx": n("status:2xx"),
      "3xx": n("status:3xx"),
      "4xx": n("status:4xx"),
      "5xx": n("status:5xx"),
    },
    routes,
    cacheByTier: {
      memory: n("cache:memory"),
      location: n("cache:location"),
      kv: n("cache:kv"),
      miss: n("cache:miss"),
    },
    webhooks: {
      delivered: n("webhooks:delivered"),
      retrying: n("webhooks:retrying"),
      failed: n("webhooks:failed"),
    },
    streamsOpened: n("streamsOpened"),
    durationMs: {
      p50: percentileMs(tally, 0.5),
      p95: percentileMs(tally, 0.95),
      counts: durationCounts(tally),
    },
  };
}

export type MetricsFields = ReturnType<typeof metricsFields>;

/** Pages a progress update billed, as counts of their tenants and end users. */
export function billedTallies(
  billed: readonly { tenantId: string; subject: string | null; pages: number }[],
): { tenantId: string; sub: string | null; tally: Tally }[] {
  return billed.map(({ tenantId, subject, pages }) => ({
    tenantId,
    sub: subject,
    tally: { pagesBilled: pages },
  }));
}
