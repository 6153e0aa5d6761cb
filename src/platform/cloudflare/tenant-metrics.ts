import { DurableObject } from "cloudflare:workers";
import type { Logger } from "../../core/log";
import {
  type MetricsBatch,
  type MetricsRecorder,
  metricsRecorder,
  NO_METRICS,
} from "../../core/metrics/recorder";
import {
  addBatch,
  type MetricsReader,
  type MetricsRows,
  type MetricsSeries,
  readSeries,
  type SeriesQuery,
} from "../../core/metrics/store";
import type { Tally } from "../../core/metrics/tally";
import { OBJECT_DEADLINES_MS, objectCalls } from "./object-call";

/**
 * One per tenant (named by tenant id): its metrics, added to by isolates' flushes, read by the
 * metrics routes. A thin shell: the rows' logic is `core/metrics/store.ts`.
 */
export class TenantMetrics extends DurableObject {
  private readonly rows: MetricsRows;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS windows (
      step TEXT NOT NULL,
      at INTEGER NOT NULL,
      row TEXT NOT NULL,
      tally TEXT NOT NULL,
      PRIMARY KEY (step, at, row)
    ) WITHOUT ROWID`);
    this.rows = sqlRows(sql);
  }

  async add(batch: MetricsBatch): Promise<void> {
    addBatch(this.rows, batch, Date.now());
  }

  async series(query: SeriesQuery): Promise<MetricsSeries> {
    return readSeries(this.rows, query);
  }
}

function sqlRows(sql: SqlStorage): MetricsRows {
  return {
    get(step, at, row) {
      const found = sql
        .exec<{ tally: string }>(
          "SELECT tally FROM windows WHERE step = ? AND at = ? AND row = ?",
          step,
          at,
          row,
        )
        .toArray()[0];
      return found && (JSON.parse(found.tally) as Tally);
    },
    put(step, at, row, tally) {
      sql.exec(
        "INSERT OR REPLACE INTO windows (step, at, row, tally) VALUES (?, ?, ?, ?)",
        step,
        at,
        row,
        JSON.stringify(tally),
      );
    },
    countSubs(step, at) {
      return sql
        .exec<{ n: number }>(
          "SELECT COUNT(*) AS n FROM windows WHERE step = ? AND at = ? AND row LIKE 'u:%'",
          step,
          at,
        )
        .one().n;
    },
    range(step, from, to, row) {
      return sql
        .exec<{ at: number; tally: string }>(
          "SELECT at, tally FROM windows WHERE step = ? AND at >= ? AND at < ? AND row = ? ORDER BY at",
          step,
          from,
          to,
          row,
        )
        .toArray()
        .map((found) => ({ at: found.at, tally: JSON.parse(found.tally) as Tally }));
    },
    deleteBefore(step, at) {
      sql.exec("DELETE FROM windows WHERE step = ? AND at < ?", step, at);
    },
  };
}

export function durableMetricsReader(
  namespace: DurableObjectNamespace<TenantMetrics>,
): MetricsReader {
  const of = metricsObjects(namespace);
  return { series: (tenantId, query) => of(tenantId).series(query) };
}

/** An isolate's recorder into `namespace` (built once with the services); none without it. */
export function metricsRecorderFor(
  namespace: DurableObjectNamespace<TenantMetrics> | undefined,
  flushDelayMs: number,
  log: Logger,
): MetricsRecorder {
  if (!namespace) return NO_METRICS;
  const of = metricsObjects(namespace);
  return metricsRecorder({
    sink: (tenantId, batch) => of(tenantId).add(batch),
    flushDelayMs,
    log,
  });
}

/**
 * For Durable Objects (the settler, a job's watcher, an outbox), whose work is not requests and
 * which may be evicted at any time: counts sent at once, one call per tenant named.
 */
export async function recordFromObject(
  namespace: DurableObjectNamespace<TenantMetrics> | undefined,
  counts: readonly { tenantId: string; sub?: string | null; tally: Tally }[],
  log: Logger,
): Promise<void> {
  if (!namespace || counts.length === 0) return;
  const of = metricsObjects(namespace);
  const recorder = metricsRecorder({
    sink: (tenantId, batch) => of(tenantId).add(batch),
    flushDelayMs: 0,
    log,
  });
  for (const { tenantId, sub, tally } of counts) {
    recorder.record(tenantId, sub ?? undefined, tally, () => {});
  }
  await recorder.flushAll();
}

const metricsObjects = (namespace: DurableObjectNamespace<TenantMetrics>) =>
  objectCalls(namespace, "tenant metrics", OBJECT_DEADLINES_MS.metrics);
