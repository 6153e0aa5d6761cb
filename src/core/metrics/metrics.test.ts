import { describe, expect, it } from "vitest";
import {
  HOUR_MS,
  MAX_SUBS_PER_WINDOW,
  type MetricsBatch,
  MINUTE_MS,
  metricsRecorder,
  OTHER_USERS,
  subRow,
} from "./recorder";
import { addBatch, type MetricsRows, type MetricsStep, metricsRange, readSeries } from "./store";
import { durationBucket, percentileMs, type Tally } from "./tally";

const quiet = { info() {}, warn() {}, error() {}, alert() {}, annotate() {} };

/** The rows as the Durable Object keeps them, in a Map. */
function memoryRows(): MetricsRows & { size(): number } {
  const rows = new Map<string, Tally>();
  const key = (step: MetricsStep, at: number, row: string) => `${step}|${at}|${row}`;
  return {
    get: (step, at, row) => rows.get(key(step, at, row)),
    put: (step, at, row, tally) => void rows.set(key(step, at, row), tally),
    countSubs: (step, at) =>
      [...rows.keys()].filter((k) => k.startsWith(`${step}|${at}|u:`)).length,
    range: (step, from, to, row) =>
      [...rows.entries()]
        .map(([k, tally]) => {
          const [s, at, r] = k.split("|");
          return { s, at: Number(at), r, tally };
        })
        .filter((x) => x.s === step && x.r === row && x.at >= from && x.at < to)
        .sort((a, b) => a.at - b.at),
    deleteBefore: (step, at) => {
      for (const k of [...rows.keys()]) {
        const [s, t] = k.split("|");
        if (s === step && Number(t) < at) rows.delete(k);
      }
    },
    size: () => rows.size,
  };
}

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

describe("metricsRecorder", () => {
  it("many requests of many tenants in one window cost one sink call per tenant", async () => {
    const calls: { tenantId: string; batch: MetricsBatch }[] = [];
    const waits: Promise<unknown>[] = [];
    const recorder = metricsRecorder({
      sink: async (tenantId, batch) => void calls.push({ tenantId, batch }),
      flushDelayMs: 5,
      log: quiet,
      now: () => T0 + 1234,
    });
    for (let i = 0; i < 1000; i++) {
      recorder.record(`t${i % 10}`, `user${i % 3}`, { requests: 1, "route:GET /x": 1 }, (p) =>
        waits.push(p),
      );
    }
    expect(waits).toHaveLength(10);
    await Promise.all(waits);
    expect(calls).toHaveLength(10);
    const t0 = calls.find((c) => c.tenantId === "t0")?.batch.windows ?? [];
    expect(t0.find((w) => w.row === "")?.tally).toEqual({ requests: 100, "route:GET /x": 100 });
    // End users keep the core counters only.
    expect(t0.find((w) => w.row === subRow("user0"))?.tally).toEqual({ requests: 34 });
    expect(t0.every((w) => w.at === T0)).toBe(true);
  });

  it("a tenant with ever new end users gets at most MAX_SUBS_PER_WINDOW rows, the rest shared", async () => {
    let batch: MetricsBatch | undefined;
    const waits: Promise<unknown>[] = [];
    const recorder = metricsRecorder({
      sink: async (_, b) => {
        batch = b;
      },
      flushDelayMs: 1,
      log: quiet,
      now: () => T0,
    });
    for (let i = 0; i < 5000; i++)
      recorder.record("t", `sub-${i}`, { requests: 1 }, (p) => waits.push(p));
    await Promise.all(waits);
    const rows = batch?.windows ?? [];
    expect(rows).toHaveLength(MAX_SUBS_PER_WINDOW + 2);
    expect(rows.find((w) => w.row === OTHER_USERS)?.tally.requests).toBe(
      5000 - MAX_SUBS_PER_WINDOW,
    );
  });

  it("a failed flush is kept for the next one", async () => {
    let fail = true;
    const got: MetricsBatch[] = [];
    const waits: Promise<unknown>[] = [];
    const recorder = metricsRecorder({
      sink: async (_, b) => {
        if (fail) throw new Error("down");
        got.push(b);
      },
      flushDelayMs: 1,
      log: quiet,
      now: () => T0,
    });
    recorder.record("t", undefined, { requests: 2 }, (p) => waits.push(p));
    await Promise.all(waits);
    fail = false;
    recorder.record("t", undefined, { requests: 1 }, (p) => waits.push(p));
    await Promise.all(waits);
    expect(got[0]?.windows[0]?.tally).toEqual({ requests: 3 });
  });
});

describe("the tenant's rows", () => {
  it("flushes add into minute and hour rows; a range answers every window and the totals", () => {
    const rows = memoryRows();
    const flush = (at: number, requests: number) =>
      addBatch(
        rows,
        { windows: [{ at, row: "", tally: { requests, "duration:2": requests } }] },
        at,
      );
    flush(T0, 3);
    flush(T0, 2);
    flush(T0 + 2 * MINUTE_MS, 4);
    const minutes = readSeries(rows, { step: "minute", from: T0, to: T0 + 3 * MINUTE_MS, row: "" });
    expect(minutes.series.map((p) => p.requests)).toEqual([5, 0, 4]);
    expect(minutes.series[1]?.at).toBe(new Date(T0 + MINUTE_MS).toISOString());
    expect(minutes.totals.requests).toBe(9);
    expect(minutes.totals.durationMs.p95).toBe(25);
    const hours = readSeries(rows, { step: "hour", from: T0, to: T0 + HOUR_MS, row: "" });
    expect(hours.series).toHaveLength(1);
    expect(hours.series[0]?.requests).toBe(9);
  });

  it("end users past the cap, across flushes of several isolates, share one row", () => {
    const rows = memoryRows();
    for (let i = 0; i < MAX_SUBS_PER_WINDOW + 50; i++) {
      addBatch(rows, { windows: [{ at: T0, row: subRow(`u${i}`), tally: { requests: 1 } }] }, T0);
    }
    expect(rows.countSubs("minute", T0)).toBe(MAX_SUBS_PER_WINDOW);
    expect(rows.get("minute", T0, OTHER_USERS)).toEqual({ requests: 50 });
  });

  it("minute rows go after a day, hour rows after 90 days", () => {
    const rows = memoryRows();
    addBatch(rows, { windows: [{ at: T0, row: "", tally: { requests: 1 } }] }, T0);
    addBatch(rows, { windows: [] }, T0 + 25 * HOUR_MS);
    expect(rows.get("minute", T0, "")).toBeUndefined();
    expect(rows.get("hour", T0, "")).toEqual({ requests: 1 });
    addBatch(rows, { windows: [] }, T0 + 91 * 24 * HOUR_MS);
    expect(rows.size()).toBe(0);
  });
});

describe("percentiles from merged histograms", () => {
  it("p50 and p95 are bucket bounds of the merged counts", () => {
    const tally: Tally = {};
    for (let ms = 1; ms <= 100; ms++) {
      const key = `duration:${durationBucket(ms)}`;
      tally[key] = (tally[key] ?? 0) + 1;
    }
    expect(percentileMs(tally, 0.5)).toBe(50);
    expect(percentileMs(tally, 0.95)).toBe(100);
    expect(percentileMs({}, 0.5)).toBeNull();
    expect(percentileMs({ "duration:11": 1 }, 0.5)).toBe(10000);
  });
});

describe("metricsRange", () => {
  it("refuses a bad step, unreadable times, an empty range and one past retention", () => {
    expect(metricsRange({ step: "day" }, T0)).toEqual({
      field: "step",
      rule: 'must be "minute" or "hour"',
    });
    expect(metricsRange({ from: "yesterday" }, T0)).toMatchObject({ field: "from" });
    expect(metricsRange({ to: "soon" }, T0)).toMatchObject({ field: "to" });
    const at = new Date(T0).toISOString();
    expect(metricsRange({ from: at, to: at }, T0)).toEqual({
      field: "from",
      rule: "must be before to",
    });
    const twoDaysAgo = new Date(T0 - 48 * HOUR_MS).toISOString();
    expect(metricsRange({ from: twoDaysAgo }, T0)).toMatchObject({ field: "from" });
    expect(metricsRange({ from: twoDaysAgo, step: "hour" }, T0)).toMatchObject({ step: "hour" });
  });

  it("defaults to the last hour by minute, the current minute included", () => {
    expect(metricsRange({}, T0 + 30_000)).toEqual({
      step: "minute",
      from: T0 + MINUTE_MS - HOUR_MS,
      to: T0 + MINUTE_MS,
    });
  });
});
