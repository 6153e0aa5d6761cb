import type { WavelineClient } from "../../waveline/client";
import { describeError } from "../errors";
import type { Logger } from "../log";
import { billedTallies } from "../metrics/tally";
import type { Clock, ObjectSql, ObjectStorage, SqlValue } from "../objects";
import { STORAGE_TIMEOUT_MS } from "../tenancy/guard";
import type { JobStore } from "../tenancy/store";
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

/** Keys of its storage: how many runs in a row the listing passed over a job, and failed runs. */
const MISS = "miss:";
const FAILURES = "failures";
/** Entries written or deleted by one storage call (a Durable Object's limit). */
const STORAGE_BATCH = 128;

async function putEntries(storage: ObjectStorage, entries: [string, number][]): Promise<void> {
  for (let i = 0; i < entries.length; i += STORAGE_BATCH) {
    await storage.put(Object.fromEntries(entries.slice(i, i + STORAGE_BATCH)));
  }
}

/** The settler's tables before its counts moved to key-value entries. */
const OLD_TABLES = ["missing_jobs", "state"];

/**
 * Once per start, before any other call: a settler deployed before its counts moved to key-value
 * entries kept them in two tables of its SQLite database (`missing_jobs (id, misses)` and
 * `state (name, value)` with the failed runs as `failures`). Their counts become entries (an entry
 * written since wins), then the tables are dropped, so a job already given up on stays given up
 * on and is not announced again. With no old table, one read of `sqlite_master`. Safe to run again
 * after a stop part way: the tables go last.
 */
export async function carryOverSettlerTables(
  sql: ObjectSql,
  storage: ObjectStorage,
): Promise<void> {
  const tables = new Set(
    sql
      .exec<{ name: string }>(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${OLD_TABLES.map(() => "?").join(", ")})`,
        ...OLD_TABLES,
      )
      .toArray()
      .map((row) => row.name),
  );
  if (tables.size === 0) return;
  if (tables.has("missing_jobs")) {
    const kept = await storage.list<number>({ prefix: MISS });
    const rows = sql
      .exec<{ id: string; misses: number } & Record<string, SqlValue>>(
        "SELECT id, misses FROM missing_jobs",
      )
      .toArray();
    await putEntries(
      storage,
      rows
        .filter((row) => !kept.has(MISS + row.id))
        .map((row): [string, number] => [MISS + row.id, row.misses]),
    );
  }
  if (tables.has("state")) {
    const failed = sql
      .exec<{ value: number }>("SELECT value FROM state WHERE name = 'failures'")
      .toArray()[0]?.value;
    if (failed && (await storage.get<number>(FAILURES)) === undefined) {
      await storage.put({ [FAILURES]: failed });
    }
  }
  sql.exec("DROP TABLE IF EXISTS missing_jobs; DROP TABLE IF EXISTS state;");
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
  /** Its miss counts and failed runs; its alarm is the next read of the listing. */
  storage: ObjectStorage;
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
export function jobSettler({ storage, services, now = () => Date.now() }: SettlerPorts) {
  async function deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += STORAGE_BATCH) {
      await storage.delete(keys.slice(i, i + STORAGE_BATCH));
    }
  }

  /**
   * Jobs the listing should have shown and did not: after a few runs, an operator's matter.
   * `misses` holds the counts of jobs still unsettled.
   */
  async function countMisses(
    misses: ReadonlyMap<string, number>,
    found: ReadonlySet<string>,
    missing: ReadonlySet<string>,
    log: Logger,
  ): Promise<void> {
    await deleteKeys([...found].filter((id) => misses.has(id)).map((id) => MISS + id));
    const counted: [string, number][] = [];
    for (const id of missing) {
      const count = (misses.get(id) ?? 0) + 1;
      counted.push([MISS + id, count]);
      if (count === MISSES_BEFORE_GIVING_UP) {
        log.alert("job not in Waveline's listing: its pages are no longer settled", { jobId: id });
      }
    }
    await putEntries(storage, counted);
  }

  return {
    /** A job may need settling: the alarm runs within SETTLE_EVERY_MS (sooner if already set). */
    async wake(): Promise<void> {
      if ((await storage.getAlarm()) === null) await storage.setAlarm(now() + SETTLE_EVERY_MS);
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
        const still = new Set(unsettled.map((job) => job.id));
        const misses = new Map<string, number>();
        const forgotten: string[] = [];
        for (const [key, count] of await storage.list<number>({ prefix: MISS })) {
          const id = key.slice(MISS.length);
          if (still.has(id)) misses.set(id, count);
          else forgotten.push(key);
        }
        await deleteKeys(forgotten);
        // Budget alerts an outbox did not take when they were claimed.
        await services
          .resendAlerts()
          .catch((err: unknown) => log.warn("budget alert unsent", { error: describeError(err) }));
        const wanted = unsettled.filter(
          (job) => (misses.get(job.id) ?? 0) < MISSES_BEFORE_GIVING_UP,
        );
        if (wanted.length === 0) {
          await storage.delete([FAILURES]);
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
        await countMisses(misses, search.found, search.missing, log);
        if (search.progress.length > 0) {
          log.info("jobs settled", {
            unsettled: wanted.length,
            moved: search.progress.length,
            listingPages: search.pagesRead,
          });
        }
        await storage.delete([FAILURES]);
        await storage.setAlarm(now() + SETTLE_EVERY_MS);
      } catch (err) {
        // Kept: the jobs stay unsettled, and the next run looks for them again, later.
        const failed = ((await storage.get<number>(FAILURES)) ?? 0) + 1;
        await storage.put({ [FAILURES]: failed });
        const wait = Math.min(SETTLE_AT_MOST_EVERY_MS, SETTLE_EVERY_MS * 2 ** (failed - 1));
        log.warn("jobs not settled: retrying", { error: describeError(err), failures: failed });
        await storage.setAlarm(now() + wait);
      }
    },
  };
}
