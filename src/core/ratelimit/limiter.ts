import { coalesce } from "../coalesce";
import { withTimeout } from "../timeout";
import type { BucketName, Decision } from "./bucket";
import type { EndUserShare } from "./share";

/**
 * Rate limits per tenant, and per end user inside them (`share`). Job creation costs money, so
 * every creation asks the tenant's counters (exact, one round trip). Reads must stay cheap on the
 * cache-hit path, so an isolate takes a lease of read tokens from the same counters and spends it
 * locally: they never grant more than the limit, and only one read per lease pays the round trip.
 * A refusal is remembered until the bucket has a token again: until then the isolate refuses
 * without asking, so a caller over its limit costs the counters nothing.
 */
export interface RateLimiter {
  take(
    tenantId: string,
    bucket: BucketName,
    limitPerMinute: number,
    share?: EndUserShare,
  ): Promise<Decision>;
  /** Gives a creation back: the request was refused before it could bill anything. */
  refundCreation(tenantId: string, limitPerMinute: number, share?: EndUserShare): Promise<void>;
}

/** A tenant's exact counters, shared by every isolate (one Durable Object per tenant on Workers). */
export interface TenantCounters {
  /** Up to `count` tokens; fewer (even none) only when `partial`. */
  take(
    tenantId: string,
    bucket: BucketName,
    count: number,
    limitPerMinute: number,
    partial: boolean,
    share?: EndUserShare,
  ): Promise<Decision>;
  refund(
    tenantId: string,
    bucket: BucketName,
    limitPerMinute: number,
    share?: EndUserShare,
  ): Promise<void>;
}

export interface RateLimiterOptions {
  /**
   * How long a read waits for a refill another request started before asking itself: Workers
   * never settles a promise whose creating request was cancelled (a client that hung up).
   */
  refillWaitMs: number;
  /** An object slower than this counts as down: the request is refused (503), never unlimited. */
  timeoutMs: number;
}

interface Lease {
  tokens: number;
  expires: number;
  decision: Decision;
  /** Reads waiting for the next lease: it is sized to serve them all. */
  waiting: number;
  /** Tokens the last refill granted: what this isolate used of them sizes the next. */
  size: number;
}

/** Unspent lease tokens are dropped after this: a lease can never hoard a tenant's budget. */
const LEASE_MS = 2_000;
const MAX_LEASES = 10_000;

export const RATE_LIMITER_DEFAULTS: RateLimiterOptions = { refillWaitMs: 1_000, timeoutMs: 2_000 };

/** One per isolate: its leases are what this isolate may spend without asking. */
export function leasedRateLimiter(
  counters: TenantCounters,
  options: RateLimiterOptions = RATE_LIMITER_DEFAULTS,
): RateLimiter {
  const leases = new Map<string, Lease>();
  /** Creations refused, by tenant, limit and end user: until when, and what to answer. */
  const refusals = new Map<string, { until: number; decision: Decision }>();
  const ask = (
    tenantId: string,
    bucket: BucketName,
    count: number,
    limit: number,
    share: EndUserShare | undefined,
  ) =>
    withTimeout(
      counters.take(tenantId, bucket, count, limit, bucket === "reads", share),
      options.timeoutMs,
    );

  const refill = async (
    lease: Lease,
    tenantId: string,
    limitPerMinute: number,
    share: EndUserShare | undefined,
  ) => {
    // Sized to this isolate's own demand, never more than a second's worth: unspent tokens lapse,
    // and many isolates each taking a second's worth every lease would spend a tenant's budget
    // without serving it. A lease used up before it lapsed doubles; one left over shrinks to use.
    const used = lease.size - lease.tokens;
    const ranOut = lease.tokens === 0 && lease.expires > Date.now();
    const demand = Math.max(1, ranOut ? used * 2 : used);
    const perSecond = Math.ceil((share?.limit ?? limitPerMinute) / 60);
    const want = Math.max(lease.waiting, Math.min(perSecond, demand));
    const decision = await ask(tenantId, "reads", want, limitPerMinute, share);
    lease.tokens = decision.granted;
    lease.size = decision.granted;
    lease.decision = decision;
    lease.expires = Date.now() + (decision.granted > 0 ? LEASE_MS : refusedForMs(decision));
  };

  return {
    refundCreation(tenantId, limitPerMinute, share) {
      refusals.delete(keyOf(tenantId, limitPerMinute, share));
      return withTimeout(
        counters.refund(tenantId, "creates", limitPerMinute, share),
        options.timeoutMs,
      );
    },
    async take(tenantId, bucket, limitPerMinute, share) {
      const key = keyOf(tenantId, limitPerMinute, share);
      if (bucket === "creates") {
        const refused = refusals.get(key);
        if (refused && refused.until > Date.now()) return refusedUntil(refused);
        const decision = await ask(tenantId, "creates", 1, limitPerMinute, share);
        if (decision.granted === 0) {
          if (refusals.size >= MAX_LEASES) refusals.delete(refusals.keys().next().value as string);
          refusals.set(key, { until: Date.now() + refusedForMs(decision), decision });
        } else refusals.delete(key);
        return decision;
      }
      const lease = leaseFor(leases, key);
      for (;;) {
        const fresh = lease.expires > Date.now();
        if (fresh && lease.tokens > 0) {
          lease.tokens--;
          return {
            ...lease.decision,
            granted: 1,
            remaining: lease.decision.remaining + lease.tokens,
          };
        }
        if (fresh && lease.decision.granted === 0) {
          return refusedUntil({ until: lease.expires, decision: lease.decision });
        }
        lease.waiting++;
        try {
          await coalesce(
            `lease:${key}`,
            () => refill(lease, tenantId, limitPerMinute, share),
            options.refillWaitMs,
          );
        } finally {
          lease.waiting--;
        }
      }
    },
  };
}

function keyOf(tenantId: string, limitPerMinute: number, share: EndUserShare | undefined): string {
  return share
    ? `${tenantId}:${limitPerMinute}:${share.limit}:${share.user}`
    : `${tenantId}:${limitPerMinute}`;
}

/**
 * The bucket has no token before `Retry-After`, the time the caller was told to wait: the refusal
 * holds until then without asking again (only a refund could bring a token back sooner).
 */
function refusedForMs(decision: Decision): number {
  return decision.retryAfterSeconds * 1000;
}

/** A remembered refusal, its `Retry-After` counted down to the time it holds until. */
function refusedUntil({ until, decision }: { until: number; decision: Decision }): Decision {
  return { ...decision, retryAfterSeconds: Math.max(1, Math.ceil((until - Date.now()) / 1000)) };
}

function leaseFor(leases: Map<string, Lease>, key: string): Lease {
  let lease = leases.get(key);
  if (!lease) {
    if (leases.size >= MAX_LEASES) leases.delete(leases.keys().next().value as string);
    const nothing = { granted: 0, limit: 0, remaining: 0, resetSeconds: 0, retryAfterSeconds: 0 };
    lease = { tokens: 0, expires: 0, decision: nothing, waiting: 0, size: 0 };
    leases.set(key, lease);
  }
  return lease;
}
