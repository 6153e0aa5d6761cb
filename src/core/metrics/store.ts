import {
  HOUR_MS,
  MAX_SUBS_PER_WINDOW,
  type MetricsBatch,
  MINUTE_MS,
  OTHER_USERS,
  TENANT_ROW,
} from "./recorder";
import { addInto, type MetricsFields, metricsFields, type Tally } from "./tally";

export type MetricsStep = "minute" | "hour";

export const STEP_MS: Record<MetricsStep, number> = { minute: MINUTE_MS, hour: HOUR_MS };
/** Minute rows are kept a day, hour rows 90 days. */
export const RETENTION_MS: Record<MetricsStep, number> = {
  minute: 24 * HOUR_MS,
  hour: 90 * 24 * HOUR_MS,
};
/** Old rows are deleted on a write at most this often. */
const PRUNE_EVERY_MS = 10 * MINUTE_MS;

/** One tenant's rows (its Durable Object's SQLite storage): synchronous, like `ctx.storage.sql`. */
export interface MetricsRows {
  get(step: MetricsStep, at: number, row: string): Tally | undefined;
  put(step: MetricsStep, at: number, row: string, tally: Tally): void;
  /** Distinct end-user rows (neither the tenant's own nor the rest's) of one window. */
  countSubs(step: MetricsStep, at: number): number;
  /** Rows `row` of windows in [from, to), oldest first. */
  range(step: MetricsStep, from: number, to: number, row: string): { at: number; tally: Tally }[];
  deleteBefore(step: MetricsStep, at: number): void;
  /** When rows were last pruned (kept by the caller between writes). */
  lastPrunedAt?: number;
}

/**
 * Adds an isolate's flush to the tenant's minute and hour rows. End users beyond
 * `MAX_SUBS_PER_WINDOW` in a window (across every isolate's flushes) share the `~` row.
 */
export function addBatch(rows: MetricsRows, batch: MetricsBatch, now: number): void {
  for (const { at, row, tally } of batch.windows) {
    for (const step of ["minute", "hour"] as const) {
      const window = Math.floor(at / STEP_MS[step]) * STEP_MS[step];
      if (window < now - RETENTION_MS[step]) continue;
      let key = row;
      let kept = rows.get(step, window, key);
      if (!kept && key !== TENANT_ROW && key !== OTHER_USERS) {
        if (rows.countSubs(step, window) >= MAX_SUBS_PER_WINDOW) {
          key = OTHER_USERS;
          kept = rows.get(step, window, key);
        }
      }
      rows.put(step, window, key, addInto(kept ?? {}, tally));
    }
  }
  if (rows.lastPrunedAt === undefined || now - rows.lastPrunedAt > PRUNE_EVERY_MS) {
    for (const step of ["minute", "hour"] as const) {
      rows.deleteBefore(step, now - RETENTION_MS[step]);
    }
    rows.lastPrunedAt = now;
  }
}

export interface SeriesQuery {
  step: MetricsStep;
  /** Window starts, aligned to `step`: [from, to). */
  from: number;
  to: number;
  row: string;
}

export interface MetricsSeries {
  series: ({ at: string } & MetricsFields)[];
  totals: MetricsFields;
}

/** Every window of the range, empty ones included (a chart wants them), and their sum. */
export function readSeries(rows: MetricsRows, query: SeriesQuery): MetricsSeries {
  const stepMs = STEP_MS[query.step];
  const found = new Map(
    rows.range(query.step, query.from, query.to, query.row).map((r) => [r.at, r.tally]),
  );
  const total: Tally = {};
  const series: MetricsSeries["series"] = [];
  for (let at = query.from; at < query.to; at += stepMs) {
    const tally = found.get(at) ?? {};
    addInto(total, tally);
    series.push({ at: new Date(at).toISOString(), ...metricsFields(tally) });
  }
  return { series, totals: metricsFields(total) };
}

/** A tenant's metrics as the routes read them (its Durable Object). */
export interface MetricsReader {
  series(tenantId: string, query: SeriesQuery): Promise<MetricsSeries>;
}

export type MetricsQueryProblem = { field: "from" | "to" | "step"; rule: string };

/**
 * The query's windows, or what is wrong with it. `from` and `to` are ISO times, rounded down to
 * the step; defaults: the last hour by minute, the last day by hour; no older than retention.
 */
export function metricsRange(
  input: { from?: string; to?: string; step?: string },
  now: number,
): { step: MetricsStep; from: number; to: number } | MetricsQueryProblem {
  const step = input.step ?? "minute";
  if (step !== "minute" && step !== "hour") {
    return { field: "step", rule: 'must be "minute" or "hour"' };
  }
  const stepMs = STEP_MS[step];
  const floor = (ms: number) => Math.floor(ms / stepMs) * stepMs;
  const parse = (value: string | undefined) =>
    value === undefined ? undefined : Date.parse(value);
  const toMs = parse(input.to);
  const fromMs = parse(input.from);
  if (toMs !== undefined && Number.isNaN(toMs)) {
    return { field: "to", rule: "must be an ISO 8601 date or date-time" };
  }
  if (fromMs !== undefined && Number.isNaN(fromMs)) {
    return { field: "from", rule: "must be an ISO 8601 date or date-time" };
  }
  // The current window is included by default: it fills as flushes land.
  const to = toMs === undefined ? floor(now) + stepMs : Math.ceil(toMs / stepMs) * stepMs;
  const from =
    fromMs === undefined ? to - (step === "minute" ? HOUR_MS : 24 * HOUR_MS) : floor(fromMs);
  if (from >= to) return { field: "from", rule: "must be before to" };
  const oldest = floor(now - RETENTION_MS[step]);
  if (from < oldest) {
    return {
      field: "from",
      rule: `must be within the ${step === "minute" ? "last 24 hours for step=minute" : "last 90 days for step=hour"}`,
    };
  }
  if (to > floor(now) + stepMs + RETENTION_MS[step]) {
    return { field: "to", rule: "must not be far in the future" };
  }
  return { step, from, to };
}
