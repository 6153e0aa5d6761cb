import { describeError } from "../errors";
import type { Logger } from "../log";
import { addInto, coreOf, type Tally } from "./tally";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;

/**
 * Distinct end users counted apart per tenant and minute; the others share one bucket
 * (`OTHER_USERS`), so a tenant minting tokens for ever new `sub`s cannot grow storage unbounded.
 */
export const MAX_SUBS_PER_WINDOW = 100;
/** Row key of a tenant's own counts, of one end user's (`u:` + sub), and of the rest of them. */
export const TENANT_ROW = "";
export const OTHER_USERS = "~";
export const subRow = (sub: string) => `u:${sub}`;

/** One tenant's counts since its last flush: `minute start (ms) -> row key -> tally`. */
export interface MetricsBatch {
  windows: { at: number; row: string; tally: Tally }[];
}

/** Where a tenant's counts go (its Durable Object); one call per flush. */
export type MetricsSink = (tenantId: string, batch: MetricsBatch) => Promise<void>;

export interface MetricsRecorder {
  /**
   * Adds `tally` to the tenant's counts (and the core counters to `sub`'s). The first count of
   * a tenant since its last flush schedules the next flush with `waitUntil`; nothing waits for it.
   */
  record(
    tenantId: string,
    sub: string | undefined,
    tally: Readonly<Tally>,
    waitUntil: (promise: Promise<unknown>) => void,
  ): void;
  /** Flushes every tenant's counts now (for tests and shutdown). */
  flushAll(): Promise<void>;
}

interface Pending {
  /** `${at}|${row}` -> tally */
  rows: Map<string, { at: number; row: string; tally: Tally }>;
  /** minute -> distinct end users counted apart in it */
  subs: Map<number, Set<string>>;
  flushing: Promise<void> | undefined;
}

/** A failed flush keeps at most this many windows of a tenant for the next one. */
const MAX_PENDING_ROWS = 2_000;

/**
 * An isolate's counters, keyed by tenant, end user and minute, flushed to each tenant's sink at
 * most once per `flushDelayMs` (the first count of a window schedules it): however many requests
 * an isolate serves, a tenant costs it one sink call per window.
 */
export function metricsRecorder(options: {
  sink: MetricsSink;
  flushDelayMs: number;
  log: Logger;
  now?: () => number;
}): MetricsRecorder {
  const now = options.now ?? Date.now;
  const pending = new Map<string, Pending>();

  const rowOf = (tenant: Pending, at: number, sub: string | undefined): string | undefined => {
    if (sub === undefined) return undefined;
    let subs = tenant.subs.get(at);
    if (!subs) {
      subs = new Set();
      tenant.subs.set(at, subs);
    }
    if (subs.has(sub)) return subRow(sub);
    if (subs.size >= MAX_SUBS_PER_WINDOW) return OTHER_USERS;
    subs.add(sub);
    return subRow(sub);
  };

  const addRow = (tenant: Pending, at: number, row: string, tally: Readonly<Tally>) => {
    const key = `${at}|${row}`;
    const kept = tenant.rows.get(key);
    if (kept) addInto(kept.tally, tally);
    else if (tenant.rows.size < MAX_PENDING_ROWS) {
      tenant.rows.set(key, { at, row, tally: addInto({}, tally) });
    }
  };

  async function flush(tenantId: string): Promise<void> {
    const tenant = pending.get(tenantId);
    if (!tenant) return;
    pending.delete(tenantId);
    const windows = [...tenant.rows.values()];
    if (windows.length === 0) return;
    try {
      await options.sink(tenantId, { windows });
    } catch (err) {
      // Kept for the next flush of this tenant (bounded); metrics never fail a request.
      options.log.warn("metrics flush failed: kept for the next one", {
        tenantId,
        error: describeError(err),
      });
      const next = tenantOf(tenantId);
      for (const window of windows) addRow(next, window.at, window.row, window.tally);
    }
  }

  const tenantOf = (tenantId: string): Pending => {
    let tenant = pending.get(tenantId);
    if (!tenant) {
      tenant = { rows: new Map(), subs: new Map(), flushing: undefined };
      pending.set(tenantId, tenant);
    }
    return tenant;
  };

  return {
    record(tenantId, sub, tally, waitUntil) {
      const tenant = tenantOf(tenantId);
      const at = Math.floor(now() / MINUTE_MS) * MINUTE_MS;
      addRow(tenant, at, "", tally);
      const row = rowOf(tenant, at, sub);
      if (row !== undefined) addRow(tenant, at, row, coreOf(tally));
      if (tenant.flushing) return;
      // 0: right after this request's own work, with no timer (tests wait for it, even faked ones).
      const window =
        options.flushDelayMs > 0
          ? new Promise<void>((resolve) => setTimeout(resolve, options.flushDelayMs))
          : Promise.resolve();
      tenant.flushing = window.then(() => flush(tenantId)).catch(() => {});
      waitUntil(tenant.flushing);
    },
    async flushAll() {
      await Promise.all([...pending.keys()].map(flush));
    },
  };
}

/** A recorder that counts nothing (metrics switched off). */
export const NO_METRICS: MetricsRecorder = {
  record() {},
  async flushAll() {},
};

/** Counts of one tenant (and end user) that an actor reports. */
export type TenantTallies = readonly { tenantId: string; sub?: string | null; tally: Tally }[];

/**
 * For actors (the settler, a job's watcher, an outbox), whose work is not requests and which
 * may be evicted at any time: counts sent at once, one sink call per tenant named.
 */
export async function recordAtOnce(
  sink: MetricsSink,
  counts: TenantTallies,
  log: Logger,
): Promise<void> {
  if (counts.length === 0) return;
  const recorder = metricsRecorder({ sink, flushDelayMs: 0, log });
  for (const { tenantId, sub, tally } of counts) {
    recorder.record(tenantId, sub ?? undefined, tally, () => {});
  }
  await recorder.flushAll();
}
