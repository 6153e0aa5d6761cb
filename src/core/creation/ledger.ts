import type { Logger } from "../log";
import type { Clock, ObjectSql, ObjectStorage } from "../objects";
import type { JobStore, OwnedJob } from "../tenancy/store";
import type { CreationOutcome, Reservation } from "./idempotency";

/** A job the proxy created but could not record in D1 yet: the ledger retries until it can. */
export const RETRY_MS = { first: 1_000, max: 30_000 };
/** Expired idempotency keys are swept at most this often. */
export const SWEEP_MS = 60 * 60_000;
/**
 * A claim whose request has not started its upstream call this long after claiming never will
 * (its answer was lost, or it gave up): the key is free again, since nothing reached Waveline.
 * Covers the budget check (D1, at most 3 s) and the ledger calls (2 s each) in between.
 */
export const START_WINDOW_MS = 10_000;
/** A replayed job larger than this is stored as its id and link only (never from Waveline). */
const MAX_STORED_JOB_CHARS = 64 * 1024;

interface KeyRow extends Record<string, string | number | null> {
  fingerprint: string;
  outcome: string | null;
  locked_until: number;
  claimed_at: number;
  started: number;
}

interface UnrecordedRow extends Record<string, string | number> {
  id: string;
  job: string;
  attempts: number;
}

/** What a tenant's ledger needs besides its storage, given by the composition root. */
export interface LedgerServices {
  /** Where created jobs are recorded (D1 on Workers), bounded in time by the composition root. */
  jobs: Pick<JobStore, "record">;
  /** Tells the settler that jobs were recorded: they are now its to follow to their final pages. */
  wakeSettler(): Promise<void>;
  log: Logger;
}

export interface LedgerPorts {
  sql: ObjectSql;
  /** Its alarm: the sweep of expired keys and the retries of held jobs. */
  alarm: Pick<ObjectStorage, "getAlarm" | "setAlarm">;
  services: LedgerServices;
  now?: Clock;
}

export type CreationLedger = ReturnType<typeof creationLedger>;

/**
 * One per tenant (named by tenant id), strongly consistent: the tenant's idempotency keys, and the
 * jobs Waveline created for it that D1 has not taken yet. Each call runs alone in the actor, so a
 * key is reserved by exactly one request however many arrive at once, from wherever.
 */
export function creationLedger({ sql, alarm, services, now = () => Date.now() }: LedgerPorts) {
  sql.exec(`
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
  addColumn(sql, "idempotency_keys", "claim TEXT");
  addColumn(sql, "idempotency_keys", "claimed_at INTEGER NOT NULL DEFAULT 0");
  addColumn(sql, "idempotency_keys", "started INTEGER NOT NULL DEFAULT 1");
  const { log } = services;

  const scheduleAlarm = async (at: number) => {
    const current = await alarm.getAlarm();
    if (current === null || current > at) await alarm.setAlarm(at);
  };

  /** Stores what the claim of `scope` ended with, answered again until the key expires. */
  const settle = (scope: string, outcome: CreationOutcome, ttlMs: number): void => {
    sql.exec(
      "UPDATE idempotency_keys SET outcome = ?, expires_at = ? WHERE scope = ?",
      JSON.stringify(storable(outcome)),
      now() + ttlMs,
      scope,
    );
  };

  /** Writes the held jobs whose turn has come by `at` to the job store; what fails waits longer. */
  const recordHeldJobs = async (at = now()): Promise<void> => {
    const due = sql
      .exec<UnrecordedRow>(
        "SELECT id, job, attempts FROM unrecorded_jobs WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT 50",
        at,
      )
      .toArray();
    let recorded = 0;
    for (const row of due) {
      const job = JSON.parse(row.job) as OwnedJob;
      try {
        const result = await services.jobs.record(job);
        if (result === "taken") {
          log.alert("job created but its id is another tenant's: not recorded", {
            jobId: job.id,
            tenantId: job.tenantId,
          });
        }
        sql.exec("DELETE FROM unrecorded_jobs WHERE id = ?", row.id);
        recorded++;
      } catch (err) {
        const attempts = row.attempts + 1;
        const wait = Math.min(RETRY_MS.max, RETRY_MS.first * 2 ** attempts);
        sql.exec(
          "UPDATE unrecorded_jobs SET attempts = ?, next_attempt_at = ? WHERE id = ?",
          attempts,
          now() + wait,
          row.id,
        );
        const line = attempts >= 10 ? log.alert : log.warn;
        line("created job still not recorded in D1", {
          jobId: job.id,
          tenantId: job.tenantId,
          attempts,
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        });
      }
    }
    // Now in D1, the jobs are the settler's to follow to their final pages.
    if (recorded > 0) {
      await services
        .wakeSettler()
        .catch((err: unknown) => log.warn("settler not woken", { error: String(err) }));
    }
  };

  return {
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
      const at = now();
      const row = sql
        .exec<KeyRow>(
          "SELECT fingerprint, outcome, locked_until, claimed_at, started FROM idempotency_keys WHERE scope = ? AND expires_at > ?",
          scope,
          at,
        )
        .toArray()[0];
      const abandoned =
        row !== undefined &&
        row.outcome === null &&
        row.started === 0 &&
        row.claimed_at + START_WINDOW_MS <= at;
      if (!row || abandoned) {
        sql.exec(
          `INSERT OR REPLACE INTO idempotency_keys
             (scope, fingerprint, outcome, locked_until, expires_at, claim, claimed_at, started)
           VALUES (?, ?, NULL, ?, ?, ?, ?, 0)`,
          scope,
          fingerprint,
          at + lockMs,
          at + ttlMs,
          claim,
          at,
        );
        await scheduleAlarm(at + SWEEP_MS);
        return { state: "new" };
      }
      if (row.fingerprint !== fingerprint) {
        return { state: "mismatch", fingerprint: row.fingerprint };
      }
      if (row.outcome !== null) {
        return { state: "replay", outcome: JSON.parse(row.outcome) as CreationOutcome };
      }
      if (row.started === 0 || row.locked_until > at) return { state: "in-flight" };
      const lost: CreationOutcome = {
        kind: "error",
        status: 502,
        code: "idempotency_outcome_unknown",
        error:
          "the first request with this Idempotency-Key ended without an answer: a job may have been created; this key will not create another",
      };
      sql.exec(
        "UPDATE idempotency_keys SET outcome = ? WHERE scope = ?",
        JSON.stringify(lost),
        scope,
      );
      return { state: "replay", outcome: lost };
    },

    settle,

    /**
     * Marks `claim` as about to call Waveline, just before it does: from now on its outcome is
     * unknown until settled. False when the claim is no longer this request's (it was given up).
     */
    start(scope: string, claim: string): boolean {
      return (
        sql.exec(
          "UPDATE idempotency_keys SET started = 1 WHERE scope = ? AND claim = ? AND outcome IS NULL",
          scope,
          claim,
        ).rowsWritten > 0
      );
    },

    /** Drops a claim whose request certainly created nothing, so that a retry may. */
    release(scope: string, claim: string): void {
      sql.exec(
        "DELETE FROM idempotency_keys WHERE scope = ? AND claim = ? AND outcome IS NULL",
        scope,
        claim,
      );
    },

    /**
     * Keeps a job the job store did not take and, in the same write, settles its idempotency key:
     * durable here before the caller hears of it, and recorded once the store answers again.
     */
    async holdUnrecorded(
      job: OwnedJob,
      settlement?: { scope: string; outcome: CreationOutcome; ttlMs: number },
    ): Promise<void> {
      const at = now();
      sql.exec(
        "INSERT OR IGNORE INTO unrecorded_jobs (id, job, next_attempt_at) VALUES (?, ?, ?)",
        job.id,
        JSON.stringify(job),
        at + RETRY_MS.first,
      );
      if (settlement) settle(settlement.scope, settlement.outcome, settlement.ttlMs);
      await scheduleAlarm(at + RETRY_MS.first);
    },

    /** Jobs still waiting for the job store, for operators and tests. */
    unrecordedJobIds(): string[] {
      return sql
        .exec<{ id: string }>("SELECT id FROM unrecorded_jobs ORDER BY id")
        .toArray()
        .map((row) => row.id);
    },

    recordHeldJobs,

    async alarm(): Promise<void> {
      const at = now();
      sql.exec("DELETE FROM idempotency_keys WHERE expires_at <= ?", at);
      await recordHeldJobs();
      const next = sql
        .exec<{ at: number | null }>("SELECT MIN(next_attempt_at) AS at FROM unrecorded_jobs")
        .one().at;
      const keysLeft = sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM idempotency_keys")
        .one().n;
      if (next !== null) await scheduleAlarm(next);
      else if (keysLeft > 0) await scheduleAlarm(at + SWEEP_MS);
    },
  };
}

/** Adds a column to a table made before it existed; a table that has it is left alone. */
function addColumn(sql: ObjectSql, table: string, definition: string): void {
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
