import { DurableObject } from "cloudflare:workers";
import type { CreationOutcome, Ledgers, Reservation } from "../../core/creation/idempotency";
import { STORAGE_TIMEOUT_MS } from "../../core/tenancy/guard";
import type { OwnedJob } from "../../core/tenancy/store";
import { withTimeout } from "../../core/timeout";
import { budgetAlertsToOutboxes } from "./budget-alerts";
import { d1JobStore } from "./d1-stores";
import { durableSettlement } from "./job-settler";
import { OBJECT_DEADLINES_MS, objectCalls } from "./object-call";

/** A job the proxy created but could not record in D1 yet: this object retries until it can. */
const RETRY_MS = { first: 1_000, max: 30_000 };
/** Expired idempotency keys are swept at most this often. */
const SWEEP_MS = 60 * 60_000;
/**
 * A claim whose request has not started its upstream call this long after claiming never will
 * (its answer was lost, or it gave up): the key is free again, since nothing reached Waveline.
 * Covers the budget check (D1, at most 3 s) and the ledger calls (2 s each) in between.
 */
const START_WINDOW_MS = 10_000;
/** A replayed job larger than this is stored as its id and link only (never from Waveline). */
const MAX_STORED_JOB_CHARS = 64 * 1024;

interface KeyRow extends Record<string, SqlStorageValue> {
  fingerprint: string;
  outcome: string | null;
  locked_until: number;
  claimed_at: number;
  started: number;
}

interface UnrecordedRow extends Record<string, SqlStorageValue> {
  job: string;
  attempts: number;
}

/**
 * One per tenant (named by tenant id), strongly consistent: the tenant's idempotency keys, and the
 * jobs Waveline created for it that D1 has not taken yet. Each call runs alone in the object, so a
 * key is reserved by exactly one request however many arrive at once, from wherever.
 */
export class CreationLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS idempotency_keys (
        scope TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        outcome TEXT,
        locked_until INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        claim TEXT,
        claimed_at INTEGER NOT NULL DEFAULT 0,
        started INTEGER NOT NULL DEFAULT 1
      );
      CREATE TABLE IF NOT EXISTS unrecorded_jobs (
        id TEXT PRIMARY KEY,
        job TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL
      );
    `);
    // Keys claimed before claims knew whether they started: as started, the cautious reading.
    addColumn(this.sql, "idempotency_keys", "claim TEXT");
    addColumn(this.sql, "idempotency_keys", "claimed_at INTEGER NOT NULL DEFAULT 0");
    addColumn(this.sql, "idempotency_keys", "started INTEGER NOT NULL DEFAULT 1");
  }

  /**
   * Claims `scope` (the key, its tenant and end user) for a request with this body fingerprint
   * under the caller's `claim` id, or says what became of the request that claimed it first. A
   * claim that never started its upstream call is free again after START_WINDOW_MS; one that
   * started but never settled (its isolate died) becomes an unknown outcome once `lockMs` has
   * passed.
   */
  async reserve(
    scope: string,
    fingerprint: string,
    claim: string,
    lockMs: number,
    ttlMs: number,
  ): Promise<Reservation> {
    const now = Date.now();
    const row = this.sql
      .exec<KeyRow>(
        "SELECT fingerprint, outcome, locked_until, claimed_at, started FROM idempotency_keys WHERE scope = ? AND expires_at > ?",
        scope,
        now,
      )
      .toArray()[0];
    const abandoned =
      row !== undefined &&
      row.outcome === null &&
      row.started === 0 &&
      row.claimed_at + START_WINDOW_MS <= now;
    if (!row || abandoned) {
      this.sql.exec(
        `INSERT OR REPLACE INTO idempotency_keys
           (scope, fingerprint, outcome, locked_until, expires_at, claim, claimed_at, started)
         VALUES (?, ?, NULL, ?, ?, ?, ?, 0)`,
        scope,
        fingerprint,
        now + lockMs,
        now + ttlMs,
        claim,
        now,
      );
      await this.scheduleAlarm(now + SWEEP_MS);
      return { state: "new" };
    }
    if (row.fingerprint !== fingerprint) return { state: "mismatch", fingerprint: row.fingerprint };
    if (row.outcome !== null) {
      return { state: "replay", outcome: JSON.parse(row.outcome) as CreationOutcome };
    }
    if (row.started === 0 || row.locked_until > now) return { state: "in-flight" };
    const lost: CreationOutcome = {
      kind: "error",
      status: 502,
      code: "idempotency_outcome_unknown",
      error:
        "the first request with this Idempotency-Key ended without an answer: a job may have been created; this key will not create another",
    };
    this.sql.exec(
      "UPDATE idempotency_keys SET outcome = ? WHERE scope = ?",
      JSON.stringify(lost),
      scope,
    );
    return { state: "replay", outcome: lost };
  }

  /** Stores what the claim of `scope` ended with, answered again until the key expires. */
  settle(scope: string, outcome: CreationOutcome, ttlMs: number): void {
    this.sql.exec(
      "UPDATE idempotency_keys SET outcome = ?, expires_at = ? WHERE scope = ?",
      JSON.stringify(storable(outcome)),
      Date.now() + ttlMs,
      scope,
    );
  }

  /**
   * Marks `claim` as about to call Waveline, just before it does: from now on its outcome is
   * unknown until settled. False when the claim is no longer this request's (it was given up).
   */
  start(scope: string, claim: string): boolean {
    return (
      this.sql.exec(
        "UPDATE idempotency_keys SET started = 1 WHERE scope = ? AND claim = ? AND outcome IS NULL",
        scope,
        claim,
      ).rowsWritten > 0
    );
  }

  /** Drops a claim whose request certainly created nothing, so that a retry may. */
  release(scope: string, claim: string): void {
    this.sql.exec(
      "DELETE FROM idempotency_keys WHERE scope = ? AND claim = ? AND outcome IS NULL",
      scope,
      claim,
    );
  }

  /**
   * Keeps a job D1 did not take and, in the same write, settles its idempotency key: durable here
   * before the caller hears of it, and in D1 once D1 answers again (the alarm retries).
   */
  async holdUnrecorded(
    job: OwnedJob,
    settlement?: { scope: string; outcome: CreationOutcome; ttlMs: number },
  ): Promise<void> {
    const now = Date.now();
    this.sql.exec(
      "INSERT OR IGNORE INTO unrecorded_jobs (id, job, next_attempt_at) VALUES (?, ?, ?)",
      job.id,
      JSON.stringify(job),
      now + RETRY_MS.first,
    );
    if (settlement) this.settle(settlement.scope, settlement.outcome, settlement.ttlMs);
    await this.scheduleAlarm(now + RETRY_MS.first);
  }

  /** Jobs still waiting for D1, for operators and tests. */
  unrecordedJobIds(): string[] {
    return this.sql
      .exec<{ id: string }>("SELECT id FROM unrecorded_jobs ORDER BY id")
      .toArray()
      .map((row) => row.id);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec("DELETE FROM idempotency_keys WHERE expires_at <= ?", now);
    await this.recordHeldJobs(this.env.DB);
    const next = this.sql
      .exec<{ at: number | null }>("SELECT MIN(next_attempt_at) AS at FROM unrecorded_jobs")
      .one().at;
    const keysLeft = this.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM idempotency_keys")
      .one().n;
    if (next !== null) await this.scheduleAlarm(next);
    else if (keysLeft > 0) await this.scheduleAlarm(now + SWEEP_MS);
  }

  /** Writes the held jobs whose turn has come by `now` to `db`; what fails waits longer. */
  async recordHeldJobs(db: D1Database, now = Date.now()): Promise<void> {
    const due = this.sql
      .exec<UnrecordedRow & { id: string }>(
        "SELECT id, job, attempts FROM unrecorded_jobs WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT 50",
        now,
      )
      .toArray();
    const store = d1JobStore(db, undefined, { alerts: budgetAlertsToOutboxes(this.env) });
    let recorded = 0;
    for (const row of due) {
      const job = JSON.parse(row.job) as OwnedJob;
      try {
        const result = await withTimeout(store.record(job), STORAGE_TIMEOUT_MS);
        if (result === "taken") {
          logLine("alert", "job created but its id is another tenant's: not recorded", {
            jobId: job.id,
            tenantId: job.tenantId,
          });
        }
        this.sql.exec("DELETE FROM unrecorded_jobs WHERE id = ?", row.id);
        recorded++;
      } catch (err) {
        const attempts = row.attempts + 1;
        const wait = Math.min(RETRY_MS.max, RETRY_MS.first * 2 ** attempts);
        this.sql.exec(
          "UPDATE unrecorded_jobs SET attempts = ?, next_attempt_at = ? WHERE id = ?",
          attempts,
          Date.now() + wait,
          row.id,
        );
        logLine(attempts >= 10 ? "alert" : "warn", "created job still not recorded in D1", {
          jobId: job.id,
          tenantId: job.tenantId,
          attempts,
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        });
      }
    }
    // Now in D1, the jobs are the settler's to follow to their final pages.
    if (recorded > 0) {
      await durableSettlement(this.env.JOB_SETTLER)
        .wake()
        .catch((err: unknown) => logLine("warn", "settler not woken", { error: String(err) }));
    }
  }

  private async scheduleAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }
}

/** Adds a column to a table made before it existed; a table that has it is left alone. */
function addColumn(sql: SqlStorage, table: string, definition: string): void {
  try {
    sql.exec(`ALTER TABLE ${table} ADD COLUMN ${definition}`);
  } catch (err) {
    if (!String(err).includes("duplicate column")) throw err;
  }
}

function storable(outcome: CreationOutcome): CreationOutcome {
  if (outcome.kind !== "created" || JSON.stringify(outcome.job).length <= MAX_STORED_JOB_CHARS) {
    return outcome;
  }
  return { kind: "created", job: { id: outcome.job.id } };
}

function logLine(level: string, msg: string, fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ level, msg, ...fields }));
}

/** Each tenant's ledger is its own object; every call bounded in time. */
export function durableLedgers(namespace: DurableObjectNamespace<CreationLedger>): Ledgers {
  return { of: objectCalls(namespace, "creation ledger", OBJECT_DEADLINES_MS.ledger) };
}
