import type { Clock, ObjectSql } from "../objects";
import type { MetricsBatch } from "./recorder";
import {
  addBatch,
  type MetricsRows,
  type MetricsSeries,
  readSeries,
  type SeriesQuery,
} from "./store";
import type { Tally } from "./tally";

export type TenantMetricsActor = ReturnType<typeof tenantMetrics>;

/**
 * One per tenant (named by tenant id): its metrics, added to by isolates' flushes, read by the
 * metrics routes, kept in the actor's own SQLite database (the rows' logic is ./store.ts).
 */
export function tenantMetrics({ sql, now = () => Date.now() }: { sql: ObjectSql; now?: Clock }) {
  sql.exec(`CREATE TABLE IF NOT EXISTS windows (
    step TEXT NOT NULL,
    at INTEGER NOT NULL,
    row TEXT NOT NULL,
    tally TEXT NOT NULL,
    PRIMARY KEY (step, at, row)
  ) WITHOUT ROWID`);
  const rows = sqlRows(sql);
  return {
    async add(batch: MetricsBatch): Promise<void> {
      addBatch(rows, batch, now());
    },
    async series(query: SeriesQuery): Promise<MetricsSeries> {
      return readSeries(rows, query);
    },
  };
}

function sqlRows(sql: ObjectSql): MetricsRows {
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
