import { DurableObject } from "cloudflare:workers";
import {
  type BucketName,
  type BucketState,
  type Decision,
  returnToken,
  takeTokens,
} from "../../core/ratelimit/bucket";
import {
  leasedRateLimiter,
  RATE_LIMITER_DEFAULTS,
  type RateLimiter,
  type RateLimiterOptions,
} from "../../core/ratelimit/limiter";
import { withTimeout } from "../../core/timeout";
import type { StreamLeases } from "../../core/watching/events";

/** Storage key of the tenant's open event streams: lease id -> when it lapses unclosed. */
const STREAMS = "streams";

/**
 * One per tenant (named by tenant id): every location asks the same object, which handles one
 * request at a time, so its counts are exact. State is kept in its SQLite storage too, so an
 * evicted object does not hand out a fresh burst.
 */
export class TenantRateLimiter extends DurableObject {
  private buckets = new Map<BucketName, BucketState>();

  async take(
    bucket: BucketName,
    want: number,
    limitPerMinute: number,
    partial: boolean,
  ): Promise<Decision> {
    const saved = this.buckets.get(bucket) ?? (await this.ctx.storage.get<BucketState>(bucket));
    const { state, decision } = takeTokens(saved, {
      want,
      limitPerMinute,
      partial,
      now: Date.now(),
    });
    this.buckets.set(bucket, state);
    await this.ctx.storage.put(bucket, state);
    return decision;
  }

  /**
   * Claims one of the tenant's `limit` open streams for at most `leaseMs`; null when all are
   * taken. Leases are stored, so an object evicted while streams stay open still counts them.
   */
  async openStream(limit: number, leaseMs: number): Promise<string | null> {
    const now = Date.now();
    const leases = (await this.ctx.storage.get<Record<string, number>>(STREAMS)) ?? {};
    for (const [id, until] of Object.entries(leases)) if (until <= now) delete leases[id];
    if (Object.keys(leases).length >= limit) return null;
    const id = crypto.randomUUID();
    leases[id] = now + leaseMs;
    await this.ctx.storage.put(STREAMS, leases);
    return id;
  }

  async closeStream(leaseId: string): Promise<void> {
    const leases = (await this.ctx.storage.get<Record<string, number>>(STREAMS)) ?? {};
    delete leases[leaseId];
    await this.ctx.storage.put(STREAMS, leases);
  }

  /** Gives back a token taken for a request that then did nothing billable. */
  async refund(bucket: BucketName, limitPerMinute: number): Promise<void> {
    const saved = this.buckets.get(bucket) ?? (await this.ctx.storage.get<BucketState>(bucket));
    const state = returnToken(saved, { limitPerMinute, now: Date.now() });
    this.buckets.set(bucket, state);
    await this.ctx.storage.put(bucket, state);
  }
}

/** The rate limiter over the tenants' objects: one per isolate. */
export function durableRateLimiter(
  namespace: DurableObjectNamespace<TenantRateLimiter>,
  options: RateLimiterOptions = RATE_LIMITER_DEFAULTS,
): RateLimiter {
  const of = (tenantId: string) => namespace.get(namespace.idFromName(tenantId));
  return leasedRateLimiter(
    {
      take: (tenantId, bucket, count, limit, partial) =>
        of(tenantId).take(bucket, count, limit, partial),
      refund: (tenantId, bucket, limit) => of(tenantId).refund(bucket, limit),
    },
    options,
  );
}

/** An object slower than this counts as unavailable. */
const LEASE_TIMEOUT_MS = 2_000;

/**
 * A tenant's open streams are counted by its limiter object, as leases that lapse on their own:
 * a stream whose end was never reported (an isolate that died) stops counting after `leaseMs`.
 */
export function durableStreamLeases(
  namespace: DurableObjectNamespace<TenantRateLimiter>,
): StreamLeases {
  const of = (tenantId: string) => namespace.get(namespace.idFromName(tenantId));
  return {
    open: (tenantId, limit, leaseMs) =>
      withTimeout(
        of(tenantId).openStream(limit, leaseMs) as Promise<string | null>,
        LEASE_TIMEOUT_MS,
      ),
    close: (tenantId, leaseId) =>
      withTimeout(of(tenantId).closeStream(leaseId) as Promise<void>, LEASE_TIMEOUT_MS),
  };
}
