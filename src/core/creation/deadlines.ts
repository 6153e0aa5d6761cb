import { STORAGE_TIMEOUT_MS } from "../tenancy/guard";

/**
 * How long a creation may take, step by step, and what that asks of the settings. Workers keeps
 * `waitUntil` work alive for 30 s after the client hangs up (Deno's server drains as long when it
 * stops): a creation that ran longer could be cut off after Waveline made the job, before any
 * record of it exists, and its key would answer "may have been created" with nobody knowing.
 */
export const WAIT_UNTIL_MS = 30_000;

/** A call to the tenant's creation ledger slower than this counts as failed. */
export const LEDGER_TIMEOUT_MS = 2_000;

/** The tenant's outbox is asked this long whether it wants a new job watched. */
export const OUTBOX_TIMEOUT_MS = 5_000;

/** Between the outcome being known and the in-flight lock running out: clocks, a queued call. */
const LOCK_MARGIN_MS = 5_000;

/** Between claiming a key and calling Waveline: the page budgets, at most two D1 reads. */
export const BEFORE_CALL_MS = 2 * STORAGE_TIMEOUT_MS;

/** From the call to Waveline until its outcome is kept: the call, D1, then the ledger. */
export function creationSettledWithinMs(upstreamTimeoutMs: number): number {
  return upstreamTimeoutMs + STORAGE_TIMEOUT_MS + LEDGER_TIMEOUT_MS;
}

/** The same, plus asking the outbox before the 201: all of it inside `waitUntil`. */
export function creationEndsWithinMs(upstreamTimeoutMs: number): number {
  return creationSettledWithinMs(upstreamTimeoutMs) + OUTBOX_TIMEOUT_MS;
}

/** A claimed key answers 409 this long: from the claim until its creation has certainly settled it. */
export function inFlightLockMs(upstreamTimeoutMs: number): number {
  return BEFORE_CALL_MS + creationSettledWithinMs(upstreamTimeoutMs) + LOCK_MARGIN_MS;
}

/** The longest Waveline call whose creation still ends within `WAIT_UNTIL_MS`. */
export const MAX_UPSTREAM_TIMEOUT_MS = WAIT_UNTIL_MS - creationEndsWithinMs(0);

/**
 * The shortest life of an idempotency key. It must outlast the in-flight lock (at most
 * `inFlightLockMs(MAX_UPSTREAM_TIMEOUT_MS)`, 36 s), or a retry finds no key while the first request
 * runs and creates a second job; and it must outlast a client's retries of one creation, each
 * spaced by a `Retry-After` (up to a minute for a creation limit), or a late retry does the same.
 */
export const MIN_IDEMPOTENCY_TTL_S = 60 * 60;
