import { coalesce } from "../coalesce";
import { withTimeout } from "../timeout";
import type { BucketName, Decision } from "./bucket";
import type { EndUserShare } from "./share";

/**
 * Rate limits per tenant, and per end user inside them (`share`). Job creation costs money, so
 * every creation asks the tenant's counters (exact, one round trip). Reads must stay cheap on the
 * cache-hit path, so an isolate takes a lease of read tokens from the same counters and spends it
 * locally, and never waits for one while it has credit: the next lease is asked for in the
 * background once half of the current one is spent, and a read may go ahead of its grant (one in
 * an isolate that has no lease yet, half a lease in one whose last lease was granted), the grant
 * then paying for it. A refusal is remembered until the bucket has a token again: until then the
 * isolate refuses without asking, so a caller over its limit costs the counters nothing.
 */
export interface RateLimiter {
  /**
   * `background` keeps work going after the answer (a request's `waitUntil`): with it, a read
   * asks for its next lease without waiting for it; without it, a read waits as a creation does.
   */
  take(
    tenantId: string,
    bucket: BucketName,
    limitPerMinute: number,
    share?: EndUserShare,
    background?: (work: Promise<unknown>) => void,
  ): Promise<Decision>;
  /** Gives a creation back: the request was refused before it could bill anything. */
  refundCreation(tenantId: string, limitPerMinute: number, share?: EndUserShare): Promise<void>;
}

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
  /** Tokens this isolate may spend; below 0 while reads served ahead of a grant await it. */
  tokens: number;
  /** Unspent tokens lapse then (a debt does not: the next grant pays it). */
  expires: number;
  decision: Decision;
  /** Reads waiting for the next lease: it is sized to serve them all. */
  waiting: number;
  /** Tokens the last grant gave: what this isolate used of them sizes the next. */
  size: number;
  /** Reads served since the last lease was asked for, and when that was. */
  served: number;
  askedAt: number;
  /** Whether the lease ran out before it lapsed since it was last asked for: demand doubles. */
  ranOut: boolean;
  /** A lease is being asked for in the background. */
  renewing: boolean;
  /** The last ask failed: no read goes ahead of a grant until one arrives. */
  failed: boolean;
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

  /** Asks for the next lease: what this isolate owes, and what its own demand says it will use. */
  const refill = async (
    lease: Lease,
    tenantId: string,
    limitPerMinute: number,
    share: EndUserShare | undefined,
  ) => {
    // Never more than a second's worth: unspent tokens lapse, and many isolates each taking a
    // second's worth every lease would spend a tenant's budget without serving it. Renewed ahead,
    // a lease asks for what this isolate will use in a lease's time at the pace it used this one;
    // one used up before it lapsed, for twice what it served; one that lapsed under-used, for
    // nothing beyond its debt (its next read goes ahead on credit).
    const perSecond = Math.ceil((share?.limit ?? limitPerMinute) / 60);
    const now = Date.now();
    const ahead = lease.expires > now && lease.tokens > 0;
    const pace = lease.served / Math.max(1, now - lease.askedAt);
    const future = ahead
      ? Math.min(perSecond, Math.ceil(pace * LEASE_MS))
      : lease.ranOut
        ? Math.min(perSecond, Math.max(1, lease.served * 2))
        : 0;
    const owed = Math.max(0, -lease.tokens);
    const want = Math.max(lease.waiting, future) + owed;
    if (want === 0) return;
    lease.served = 0;
    lease.ranOut = false;
    lease.askedAt = now;
    let decision: Decision;
    try {
      decision = await ask(tenantId, "reads", want, limitPerMinute, share);
    } catch (err) {
      lease.failed = true;
      throw err;
    }
    lease.failed = false;
    const fresh = lease.expires > Date.now();
    // What is left of a lease renewed ahead is kept; a lapsed one's tokens are gone, a debt is not.
    lease.tokens = (fresh ? lease.tokens : Math.min(0, lease.tokens)) + decision.granted;
    lease.size = decision.granted;
    lease.decision = decision;
    lease.expires = Date.now() + (decision.granted > 0 ? LEASE_MS : refusedForMs(decision));
  };

  /** Asks for the next lease after the answer: reads go on from this one meanwhile. */
  const renewAhead = (
    lease: Lease,
    key: string,
    tenantId: string,
    limitPerMinute: number,
    share: EndUserShare | undefined,
    background: (work: Promise<unknown>) => void,
  ) => {
    if (lease.renewing) return;
    lease.renewing = true;
    background(
      coalesce(
        `lease:${key}`,
        () => refill(lease, tenantId, limitPerMinute, share),
        options.refillWaitMs,
      )
        .catch(() => {})
        .finally(() => {
          lease.renewing = false;
        }),
    );
  };

  /**
   * How many reads may go ahead of their grant: one in an isolate that never had a lease, and in
   * one that had, up to half its last lease, but only as many as the counters had left after it,
   * so that the grant on its way can pay for them: a tenant near its limit waits for its grants.
   */
  const credit = (lease: Lease) => {
    if (lease.failed) return 0;
    if (lease.decision.limit === 0) return 1;
    if (lease.decision.granted === 0) return 0;
    return Math.min(Math.max(1, Math.floor(lease.size / 2)), lease.decision.remaining);
  };

  return {
    refundCreation(tenantId, limitPerMinute, share) {
      refusals.delete(keyOf(tenantId, limitPerMinute, share));
      return withTimeout(
        counters.refund(tenantId, "creates", limitPerMinute, share),
        options.timeoutMs,
      );
    },
    async take(tenantId, bucket, limitPerMinute, share, background) {
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
      const renew = () =>
        background && renewAhead(lease, key, tenantId, limitPerMinute, share, background);
      const served = () => {
        lease.tokens--;
        lease.served++;
        if (lease.tokens <= 0 && lease.expires > Date.now()) lease.ranOut = true;
        // Half spent: the next lease is asked for now, so that reads need not wait for it.
        if (lease.tokens <= lease.size / 2) renew();
        const limit = share?.limit ?? limitPerMinute;
        // Before this isolate's first grant, what is left is only known to be below the limit.
        const known = lease.decision.limit > 0;
        return {
          ...lease.decision,
          limit,
          granted: 1,
          remaining: known ? Math.max(0, lease.decision.remaining + lease.tokens) : limit - 1,
        };
      };
      for (;;) {
        const fresh = lease.expires > Date.now();
        if (fresh && lease.tokens > 0) return served();
        // A lapsed lease's tokens are gone (a debt stays: the next grant pays it).
        if (!fresh && lease.tokens > 0) lease.tokens = 0;
        if (fresh && lease.decision.granted === 0) {
          return refusedUntil({ until: lease.expires, decision: lease.decision });
        }
        // Ahead of the grant on its way: the hit waits on no round trip, the grant pays for it.
        if (background && lease.tokens > -credit(lease)) return served();
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
    lease = {
      tokens: 0,
      expires: 0,
      decision: nothing,
      waiting: 0,
      size: 0,
      served: 0,
      askedAt: 0,
      ranOut: false,
      renewing: false,
      failed: false,
    };
    leases.set(key, lease);
  }
  return lease;
}
