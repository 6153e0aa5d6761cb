import type { CreatedJob } from "../../waveline/schema";
import type { ErrorCode } from "../errors";
import { mayReadJob, type Principal } from "../tenancy/access";
import type { OwnedJob } from "../tenancy/store";

/** The IETF draft's `Idempotency-Key`, as Stripe takes it: 1 to 255 printable ASCII characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;

/** A key belongs to its tenant (one ledger each) and to the credential's end user within it. */
export function idempotencyScope(subject: string | undefined, key: string): string {
  return JSON.stringify([subject ?? null, key]);
}

/** The route and the exact bytes: the same key with anything else is another request (422). */
export async function requestFingerprint(
  kind: string,
  body: Uint8Array<ArrayBuffer>,
): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  return `${kind}:${Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

/** What a creation ended with, as it is answered again for its idempotency key. */
export type CreationOutcome =
  | { kind: "created"; job: CreatedJob }
  | {
      kind: "error";
      status: 400 | 502 | 503 | 504;
      /** Absent from outcomes stored before errors had codes (at most `IDEMPOTENCY_TTL_S` ago). */
      code?: ErrorCode;
      error: string;
      jobId?: string;
    };

/**
 * How a key's earlier request differed from this one, for the 422 to say: the route it was used
 * on when the body was the very same, else undefined (another body). `requestFingerprint`s are
 * `route:digest`.
 */
export function routeOfSameBody(earlier: string, now: string): string | undefined {
  const split = (fingerprint: string) => {
    const colon = fingerprint.indexOf(":");
    return { route: fingerprint.slice(0, colon), digest: fingerprint.slice(colon + 1) };
  };
  const before = split(earlier);
  return before.digest === split(now).digest ? before.route : undefined;
}

/**
 * Whether `principal` may be answered `outcome` again. Credentials that share a key's scope (the
 * API key and browser tokens without `sub`) do not share what they may read: a replay shows its job
 * only to a caller that could read that job, owned as it was created (this tenant, this `sub`).
 */
export function mayReplay(principal: Principal, outcome: CreationOutcome): boolean {
  const jobId = outcome.kind === "created" ? outcome.job.id : outcome.jobId;
  if (jobId === undefined) return true;
  const creator = { tenantId: principal.tenant.id, subject: principal.subject ?? null };
  return principal.scopes.has("jobs:read") && mayReadJob(principal, jobId, creator);
}

export type Reservation =
  | { state: "new" }
  | { state: "replay"; outcome: CreationOutcome }
  | { state: "in-flight" }
  /** The key was used for another request: its fingerprint, to tell the caller how it differed. */
  | { state: "mismatch"; fingerprint: string };

/**
 * A tenant's record of its creations: idempotency keys and their outcomes, and jobs created but
 * not yet recorded in the job store (it records them as soon as it can). Calls may fail.
 */
export interface Ledger {
  /** Claims `scope` under `claim`, an id the caller made (so it can release a claim it never heard of). */
  reserve(
    scope: string,
    fingerprint: string,
    claim: string,
    lockMs: number,
    ttlMs: number,
  ): Promise<Reservation>;
  /** Marks the claim as calling Waveline now; false when it is no longer the caller's. */
  start(scope: string, claim: string): Promise<boolean>;
  settle(scope: string, outcome: CreationOutcome, ttlMs: number): Promise<void>;
  /** Frees a claim that sent nothing to Waveline (or whose request Waveline refused). */
  release(scope: string, claim: string): Promise<void>;
  holdUnrecorded(
    job: OwnedJob,
    settlement?: { scope: string; outcome: CreationOutcome; ttlMs: number },
  ): Promise<void>;
}

export interface Ledgers {
  of(tenantId: string): Ledger;
}
