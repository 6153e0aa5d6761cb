import type { WavelineClient } from "../../waveline/client";
import { describeError } from "../errors";
import type { Logger } from "../log";
import { billedTallies } from "../metrics/tally";
import type { Clock, ObjectSql, ObjectStorage, SqlValue } from "../objects";
import type { JobStore } from "../tenancy/store";
import { STORAGE_TIMEOUT_MS } from "../tenancy/guard";
import { withTimeout } from "../timeout";
import {
  SETTLE_AT_MOST_EVERY_MS,
  SETTLE_EVERY_MS,
  SETTLE_HORIZON_MS,
  searchListing,
} from "./settlement";

/**
 * One run looks for at most this many unsettled jobs, the newest first (older ones once those
 * finish): three statements for each that moved (its update and its month totals) stay well
 * within D1's queries per invocation.
 */
export const MAX_UNSETTLED_PER_RUN = 300;
/** A job the listing went past this many runs in a row without showing it is no longer looked for. */
export const MISSES_BEFORE_GIVING_UP = 5;
/** The one settler of the account. */
export const SETTLER_NAME = "account";

interface MissRow extends Record<string, SqlValue> {
  id: string;
  misses: number;
}

/** What the settler needs besides its storage, given by the composition root. */
export interface SettlerServices {
  /** Waveline's listing of the account's jobs; none when unconfigured (the settler then waits). */
  waveline: Pick<WavelineClient, "listJobs"> | undefined;
  /** The jobs the proxy recorded (D1 on Workers); each call is bounded by the settler. */
  jobs: Pick<JobStore, "unsettledJobs" | "recordProgressOf">;
  /** Sends again the budget alerts an outbox did not take when they were claimed. */
  resendAlerts(): Promise<void>;
  /** Billed pages, into the tenants' metrics. */
  recordTallies(counts: ReturnType<typeof billedTallies>): Promise<void>;
  log(fields: Record<string, unknown>): Logger;
}

export interface SettlerPorts {
  sql: ObjectSql;
  /** Its alarm: the next read of the listing, while jobs are unsettled. */
  alarm: Pick<ObjectStorage, "getAlarm" | "setAlarm">;
  services: SettlerServices;
  now?: Clock;
}

export type JobSettlerActor = ReturnType<typeof jobSettler>;

/**
 * The account's one settler (named `account`): while the job store holds jobs not finished as
 * last seen, its alarm reads Waveline's listing of the account's jobs every SETTLE_EVERY_MS and
 * records their status and pages, so usage and budgets count every billed page, read or not.
 * Woken by each creation.
 */
export function jobSettler({ sql, alarm, services, now = () => Date.now() }: SettlerPorts) {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS missing_jobs (id TEXT PRIMARY KEY, misses INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
  `);

  function failures(): number {
    return (
      sql.exec<{ value: number }>("SELECT value FROM state WHERE name = 'failures'").toArray()[0]
        ?.value ?? 0
    );
  }

  function givenUp(): Set<string> {
    return new Set(
      sql
        .exec<MissRow>("SELECT id FROM missing_jobs WHERE misses >= ?", MISSES_BEFORE_GIVING_UP)
        .toArray()
        .map((row) => row.id),
    );
  }

  /** Jobs the listing should have shown and did not: after a few runs, an operator's matter. */
  function countMisses(found: ReadonlySet<string>, missing: ReadonlySet<string>, log: Logger) {
    for (const id of found) sql.exec("DELETE FROM missing_jobs WHERE id = ?", id);
    for (const id of missing) {
      const { misses } = sql
        .exec<MissRow>(
          `INSERT INTO missing_jobs (id, misses) VALUES (?, 1)
           ON CONFLICT (id) DO UPDATE SET misses = misses + 1 RETURNING id, misses`,
          id,
        )
        .one();
      if (misses === MISSES_BEFORE_GIVING_UP) {
        log.alert("job not in Waveline's listing: its pages are no longer settled", { jobId: id });
      }
    }
  }

  return {
    /** A job may need settling: the alarm runs within SETTLE_EVERY_MS (sooner if already set). */
    async wake(): Promise<void> {
      if ((await alarm.getAlarm()) === null) await alarm.setAlarm(now() + SETTLE_EVERY_MS);
    },

    async alarm(): Promise<void> {
      const log = services.log({ settler: SETTLER_NAME });
      const { waveline, jobs } = services;
      if (!waveline) return;
      try {
        const since = new Date(now() - SETTLE_HORIZON_MS).toISOString();
        const unsettled = await withTimeout(
          jobs.unsettledJobs(since, MAX_UNSETTLED_PER_RUN),
          STORAGE_TIMEOUT_MS,
        );
        // Misses of jobs settled meanwhile, or past the horizon, are forgotten.
        sql.exec(
          "DELETE FROM missing_jobs WHERE id NOT IN (SELECT value FROM json_each(?))",
          JSON.stringify(unsettled.map((job) => job.id)),
        );
        // Budget alerts an outbox did not take when they were claimed.
        await services
          .resendAlerts()
          .catch((err: unknown) => log.warn("budget alert unsent", { error: describeError(err) }));
        const given = givenUp();
        const wanted = unsettled.filter((job) => !given.has(job.id));
        if (wanted.length === 0) {
          sql.exec("DELETE FROM state");
          return;
        }
        const search = await searchListing(wanted, (offset, count) =>
          waveline.listJobs(offset, count, log),
        );
        const billed = await withTimeout(
          jobs.recordProgressOf(search.progress),
          STORAGE_TIMEOUT_MS,
        );
        await services.recordTallies(billedTallies(billed)).catch(() => {});
        countMisses(search.found, search.missing, log);
        if (search.progress.length > 0) {
          log.info("jobs settled", {
            unsettled: wanted.length,
            moved: search.progress.length,
            listingPages: search.pagesRead,
          });
        }
        sql.exec("DELETE FROM state WHERE name = 'failures'");
        await alarm.setAlarm(now() + SETTLE_EVERY_MS);
      } catch (err) {
        // Kept: the jobs stay unsettled, and the next run looks for them again, later.
        const failed = failures() + 1;
        sql.exec("INSERT OR REPLACE INTO state (name, value) VALUES ('failures', ?)", failed);
        const wait = Math.min(SETTLE_AT_MOST_EVERY_MS, SETTLE_EVERY_MS * 2 ** (failed - 1));
        log.warn("jobs not settled: retrying", { error: describeError(err), failures: failed });
        await alarm.setAlarm(now() + wait);
      }
    },
  };
}
