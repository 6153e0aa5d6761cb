import { DurableObject } from "cloudflare:workers";
import type { MetricsBatch } from "../../../core/metrics/recorder";
import {
  addBatch,
  type MetricsRows,
  type MetricsSeries,
  readSeries,
  type SeriesQuery,
} from "../../../core/metrics/store";
import type { Tally } from "../../../core/metrics/tally";

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
