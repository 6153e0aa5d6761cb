import { DurableObject } from "cloudflare:workers";
import { readConfig } from "../../core/config";
import {
  SETTLE_AT_MOST_EVERY_MS,
  SETTLE_EVERY_MS,
  SETTLE_HORIZON_MS,
  type Settlement,
  searchListing,
} from "../../core/creation/settlement";
import { describeError } from "../../core/errors";
import type { Logger } from "../../core/log";
import { billedTallies } from "../../core/metrics/tally";
import { STORAGE_TIMEOUT_MS } from "../../core/tenancy/guard";
import { withTimeout } from "../../core/timeout";
import { createWavelineClient } from "../../waveline/client";
import { budgetAlertsToOutboxes, resendBudgetAlerts } from "./budget-alerts";
import { d1JobStore } from "./d1-stores";
import { isolateLog } from "./log";
import { OBJECT_DEADLINES_MS, objectCalls } from "./object-call";
import { recordFromObject } from "./tenant-metrics";

/**
 * One run looks for at most this many unsettled jobs, the newest first (older ones once those
 * finish): three statements for each that moved (its update and its month totals) stay well
 * within D1's queries per invocation.
 */
const MAX_UNSETTLED_PER_RUN = 300;
/** A job the listing went past this many runs in a row without showing it is no longer looked for. */
const MISSES_BEFORE_GIVING_UP = 5;
/** The one settler of the account. */
const SETTLER_NAME = "account";

interface MissRow extends Record<string, SqlStorageValue> {
  id: string;
  misses: number;
}

/**
 * The account's one settler (named `account`): while D1 holds jobs not finished as last seen, its
 * alarm reads Waveline's listing of the account's jobs every SETTLE_EVERY_MS and records their
 * status and pages, so usage and budgets count every billed page, read or not. Woken by each
 * creation; an alarm runs by itself under `wrangler dev`, Miniflare and the Deno server alike.
 */
export class JobSettler extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS missing_jobs (id TEXT PRIMARY KEY, misses INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
  }

  /** A job may need settling: the alarm runs within SETTLE_EVERY_MS (sooner if already set). */
  async wake(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + SETTLE_EVERY_MS);
    }
  }

  override async alarm(): Promise<void> {
    const log = isolateLog({ settler: SETTLER_NAME });
    const config = readConfig(this.env);
    if (!config.ok || !config.config.wavelineApiKey) return;
    const { wavelineApiUrl, wavelineApiKey, upstreamTimeoutMs, maxUpstreamBodyBytes } =
      config.config;
    const waveline = createWavelineClient({
      baseUrl: wavelineApiUrl,
      apiKey: wavelineApiKey,
      timeoutMs: upstreamTimeoutMs,
      maxBodyBytes: maxUpstreamBodyBytes,
    });
    const jobs = d1JobStore(this.env.DB, undefined, { alerts: budgetAlertsToOutboxes(this.env) });
    try {
      const since = new Date(Date.now() - SETTLE_HORIZON_MS).toISOString();
      const unsettled = await withTimeout(
        jobs.unsettledJobs(since, MAX_UNSETTLED_PER_RUN),
        STORAGE_TIMEOUT_MS,
      );
      // Misses of jobs settled meanwhile, or past the horizon, are forgotten.
      this.sql.exec(
        "DELETE FROM missing_jobs WHERE id NOT IN (SELECT value FROM json_each(?))",
        JSON.stringify(unsettled.map((job) => job.id)),
      );
      // Budget alerts an outbox did not take when they were claimed.
      await resendBudgetAlerts(this.env).catch((err: unknown) =>
        log.warn("budget alert unsent", { error: describeError(err) }),
      );
      const given = this.givenUp();
      const wanted = unsettled.filter((job) => !given.has(job.id));
      if (wanted.length === 0) {
        this.sql.exec("DELETE FROM state");
        return;
      }
      const search = await searchListing(wanted, (offset, count) =>
        waveline.listJobs(offset, count, log),
      );
      const billed = await withTimeout(jobs.recordProgressOf(search.progress), STORAGE_TIMEOUT_MS);
      await recordFromObject(this.env.TENANT_METRICS, billedTallies(billed), log).catch(() => {});
      this.countMisses(search.found, search.missing, log);
      if (search.progress.length > 0) {
        log.info("jobs settled", {
          unsettled: wanted.length,
          moved: search.progress.length,
          listingPages: search.pagesRead,
        });
      }
      this.sql.exec("DELETE FROM state WHERE name = 'failures'");
      await this.ctx.storage.setAlarm(Date.now() + SETTLE_EVERY_MS);
    } catch (err) {
      // Kept: the jobs stay unsettled in D1, and the next run looks for them again, later.
      const failures = this.failures() + 1;
      this.sql.exec("INSERT OR REPLACE INTO state (name, value) VALUES ('failures', ?)", failures);
      const wait = Math.min(SETTLE_AT_MOST_EVERY_MS, SETTLE_EVERY_MS * 2 ** (failures - 1));
      log.warn("jobs not settled: retrying", { error: describeError(err), failures });
      await this.ctx.storage.setAlarm(Date.now() + wait);
    }
  }

  private failures(): number {
    return (
      this.sql
        .exec<{ value: number }>("SELECT value FROM state WHERE name = 'failures'")
        .toArray()[0]?.value ?? 0
    );
  }

  private givenUp(): Set<string> {
    return new Set(
      this.sql
        .exec<MissRow>("SELECT id FROM missing_jobs WHERE misses >= ?", MISSES_BEFORE_GIVING_UP)
        .toArray()
        .map((row) => row.id),
    );
  }

  /** Jobs the listing should have shown and did not: after a few runs, an operator's matter. */
  private countMisses(found: ReadonlySet<string>, missing: ReadonlySet<string>, log: Logger): void {
    for (const id of found) this.sql.exec("DELETE FROM missing_jobs WHERE id = ?", id);
    for (const id of missing) {
      const { misses } = this.sql
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
}

export function durableSettlement(namespace: DurableObjectNamespace<JobSettler>): Settlement {
  const settler = objectCalls(namespace, "job settler", OBJECT_DEADLINES_MS.settler);
  return { wake: () => settler(SETTLER_NAME).wake() };
}
