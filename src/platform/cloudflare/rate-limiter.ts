import { DurableObject } from "cloudflare:workers";
import {
  type BucketName,
  type BucketState,
  type Decision,
  returnToken,
  takeTokens,
  takeWithinShare,
} from "../../core/ratelimit/bucket";
import {
  leasedRateLimiter,
  RATE_LIMITER_DEFAULTS,
  type RateLimiter,
  type RateLimiterOptions,
} from "../../core/ratelimit/limiter";
import type { EndUserShare } from "../../core/ratelimit/share";
import { withTimeout } from "../../core/timeout";
import type { StreamLeases } from "../../core/watching/events";

/** Storage key of the tenant's open event streams: lease id -> when it lapses unclosed. */
const STREAMS = "streams";
/** Storage keys of end users' buckets: `share/<bucket>/<user>`. */
const SHARE_PREFIX = "share/";
/** A bucket untouched this long is full again, as good as none: its key is deleted. */
const FULL_AFTER_MS = 60_000;

/** An open stream: when it lapses unclosed, and whose share it spends (a bare number: none). */
type StreamLease = number | { until: number; user: string };
const untilOf = (lease: StreamLease) => (typeof lease === "number" ? lease : lease.until);

/**
 * One per tenant (named by tenant id): every location asks the same object, which handles one
 * request at a time, so its counts are exact. State is kept in its SQLite storage too, so an
 * evicted object does not hand out a fresh burst. A refusal writes nothing: the state it would
 * write is the one stored.
 */
export class TenantRateLimiter extends DurableObject {
  private buckets = new Map<string, BucketState>();

  async take(
    bucket: BucketName,
    want: number,
    limitPerMinute: number,
    partial: boolean,
    share?: EndUserShare,
  ): Promise<Decision> {
    const now = Date.now();
    const saved = await this.bucket(bucket);
    if (!share) {
      const { state, decision } = takeTokens(saved, { want, limitPerMinute, partial, now });
      if (decision.granted > 0) await this.save({ [bucket]: state });
      return decision;
    }
    const userKey = `${SHARE_PREFIX}${bucket}/${share.user}`;
    const taken = takeWithinShare(
      { tenant: saved, user: await this.bucket(userKey) },
      { want, limitPerMinute, share: share.limit, partial, now },
    );
    if (taken.decision.granted > 0) {
      await this.save({ [bucket]: taken.tenant, [userKey]: taken.user });
    }
    return taken.decision;
  }

  /**
   * Claims one of the tenant's `limit` open streams for at most `leaseMs`, and one of the end
   * user's `share.limit`; null when all are taken. Leases are stored, so an object evicted while
   * streams stay open still counts them.
   */
  async openStream(limit: number, leaseMs: number, share?: EndUserShare): Promise<string | null> {
    const now = Date.now();
    const leases = (await this.ctx.storage.get<Record<string, StreamLease>>(STREAMS)) ?? {};
    for (const [id, lease] of Object.entries(leases)) if (untilOf(lease) <= now) delete leases[id];
    const all = Object.values(leases);
    if (all.length >= limit) return null;
    if (share) {
      const mine = all.filter((lease) => typeof lease !== "number" && lease.user === share.user);
      if (mine.length >= share.limit) return null;
    }
    const id = crypto.randomUUID();
    leases[id] = share ? { until: now + leaseMs, user: share.user } : now + leaseMs;
    await this.ctx.storage.put(STREAMS, leases);
    return id;
  }

  async closeStream(leaseId: string): Promise<void> {
    const leases = (await this.ctx.storage.get<Record<string, StreamLease>>(STREAMS)) ?? {};
    delete leases[leaseId];
    await this.ctx.storage.put(STREAMS, leases);
  }

  async openStreams(): Promise<number> {
    const leases = (await this.ctx.storage.get<Record<string, StreamLease>>(STREAMS)) ?? {};
    const now = Date.now();
    return Object.values(leases).filter((lease) => untilOf(lease) > now).length;
  }

  /** Gives back a token taken for a request that then did nothing billable. */
  async refund(bucket: BucketName, limitPerMinute: number, share?: EndUserShare): Promise<void> {
    const now = Date.now();
    const states: Record<string, BucketState> = {
      [bucket]: returnToken(await this.bucket(bucket), { limitPerMinute, now }),
    };
    if (share) {
      const userKey = `${SHARE_PREFIX}${bucket}/${share.user}`;
      const user = await this.bucket(userKey);
      states[userKey] = returnToken(user, { limitPerMinute: share.limit, now });
    }
    await this.save(states);
  }

  /** Deletes the end users' buckets that are full again, so storage does not grow with them. */
  override async alarm(): Promise<void> {
    const stale = Date.now() - FULL_AFTER_MS;
    const shares = await this.ctx.storage.list<BucketState>({ prefix: SHARE_PREFIX });
    const full = [...shares].filter(([, state]) => state.updatedAt <= stale).map(([key]) => key);
    for (const key of full) this.buckets.delete(key);
    if (full.length > 0) await this.ctx.storage.delete(full);
    if (shares.size > full.length) await this.ctx.storage.setAlarm(Date.now() + FULL_AFTER_MS);
  }

  private async bucket(key: string): Promise<BucketState | undefined> {
    return this.buckets.get(key) ?? (await this.ctx.storage.get<BucketState>(key));
  }

  private async save(states: Record<string, BucketState>): Promise<void> {
    for (const [key, state] of Object.entries(states)) this.buckets.set(key, state);
    await this.ctx.storage.put(states);
    const sharesSaved = Object.keys(states).some((key) => key.startsWith(SHARE_PREFIX));
    if (sharesSaved && (await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + FULL_AFTER_MS);
    }
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
      take: (tenantId, bucket, count, limit, partial, share) =>
        of(tenantId).take(bucket, count, limit, partial, share),
      refund: (tenantId, bucket, limit, share) => of(tenantId).refund(bucket, limit, share),
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
    open: (tenantId, limit, leaseMs, share) =>
      withTimeout(
        of(tenantId).openStream(limit, leaseMs, share) as Promise<string | null>,
        LEASE_TIMEOUT_MS,
      ),
    close: (tenantId, leaseId) =>
      withTimeout(of(tenantId).closeStream(leaseId) as Promise<void>, LEASE_TIMEOUT_MS),
    count: (tenantId) =>
      withTimeout(of(tenantId).openStreams() as Promise<number>, LEASE_TIMEOUT_MS),
  };
}
