import type {
  CreationLedger,
  CreationOutcome,
  Reservation,
} from "../../platform/cloudflare/creation-ledger";
import type { OwnedJob } from "../tenancy/store";
import { withTimeout } from "../timeout";

/** The IETF draft's `Idempotency-Key`, as Stripe takes it: 1 to 255 printable ASCII characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;

/** A key belongs to its tenant (one ledger each) and to the credential's end user within it. */
export function idempotencyScope(subject: string | undefined, key: string): string {
  return JSON.stringify([subject ?? null, key]);
}

/** The route and the exact bytes: the same key with anything else is another request (422). */
export async function requestFingerprint(kind: string, body: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  return `${kind}:${Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

/** An object slower than this counts as unavailable. */
const LEDGER_TIMEOUT_MS = 2_000;

export interface Ledger {
  reserve(scope: string, fingerprint: string, lockMs: number, ttlMs: number): Promise<Reservation>;
  settle(scope: string, outcome: CreationOutcome, ttlMs: number): Promise<void>;
  release(scope: string): Promise<void>;
  holdUnrecorded(
    job: OwnedJob,
    settlement?: { scope: string; outcome: CreationOutcome; ttlMs: number },
  ): Promise<void>;
}

/** The tenant's ledger, every call bounded in time. */
export function ledgerOf(
  namespace: DurableObjectNamespace<CreationLedger>,
  tenantId: string,
): Ledger {
  const stub = namespace.get(namespace.idFromName(tenantId));
  return {
    reserve: (scope, fingerprint, lockMs, ttlMs) =>
      withTimeout(
        stub.reserve(scope, fingerprint, lockMs, ttlMs) as Promise<Reservation>,
        LEDGER_TIMEOUT_MS,
      ),
    settle: (scope, outcome, ttlMs) =>
      withTimeout(stub.settle(scope, outcome, ttlMs) as Promise<void>, LEDGER_TIMEOUT_MS),
    release: (scope) => withTimeout(stub.release(scope) as Promise<void>, LEDGER_TIMEOUT_MS),
    holdUnrecorded: (job, settlement) =>
      withTimeout(stub.holdUnrecorded(job, settlement) as Promise<void>, LEDGER_TIMEOUT_MS),
  };
}
