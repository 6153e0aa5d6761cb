import type { Decision } from "./bucket";
import type { BucketName, TenantRateLimiter } from "./durable-object";

/**
 * Rate limits per tenant. Job creation costs money, so every creation asks the tenant's Durable
 * Object (exact, one round trip). Reads must stay cheap on the cache-hit path, so an isolate
 * takes a lease of read tokens from the same object and spends it locally: the object never
 * grants more than the limit, and only one read per lease pays the round trip.
 */
export interface RateLimiter {
  take(tenantId: string, bucket: BucketName, limitPerMinute: number): Promise<Decision>;
}

interface Lease {
  tokens: number;
  expires: number;
  decision: Decision;
  /** Reads waiting for the next lease: it is sized to serve them all. */
  waiting: number;
  fetching?: Promise<void>;
}

/** Unspent lease tokens are dropped after this: a lease can never hoard a tenant's budget. */
const LEASE_MS = 2_000;
const MAX_LEASES = 10_000;
const leases = new Map<string, Lease>();

export function durableRateLimiter(
  namespace: DurableObjectNamespace<TenantRateLimiter>,
): RateLimiter {
  const stub = (tenantId: string) => namespace.get(namespace.idFromName(tenantId));

  const refill = async (lease: Lease, tenantId: string, limitPerMinute: number) => {
    // A second's worth of reads, or as many as are waiting now, whichever is more.
    const want = Math.max(Math.ceil(limitPerMinute / 60), lease.waiting);
    const decision = await stub(tenantId).take("reads", want, limitPerMinute, true);
    lease.tokens = decision.granted;
    lease.decision = decision;
    // A refusal is remembered briefly too, so a tenant over its limit cannot flood the object.
    lease.expires =
      Date.now() +
      (decision.granted > 0 ? LEASE_MS : Math.min(1000, decision.retryAfterSeconds * 1000));
  };

  return {
    async take(tenantId, bucket, limitPerMinute) {
      if (bucket === "creates") return stub(tenantId).take("creates", 1, limitPerMinute, false);
      const lease = leaseFor(`${tenantId}:${limitPerMinute}`);
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
        if (fresh && lease.decision.granted === 0) return lease.decision;
        lease.waiting++;
        lease.fetching ??= refill(lease, tenantId, limitPerMinute).finally(() => {
          lease.fetching = undefined;
        });
        try {
          await lease.fetching;
        } finally {
          lease.waiting--;
        }
      }
    },
  };
}

function leaseFor(key: string): Lease {
  let lease = leases.get(key);
  if (!lease) {
    if (leases.size >= MAX_LEASES) leases.delete(leases.keys().next().value as string);
    const nothing = { granted: 0, limit: 0, remaining: 0, resetSeconds: 0, retryAfterSeconds: 0 };
    lease = { tokens: 0, expires: 0, decision: nothing, waiting: 0 };
    leases.set(key, lease);
  }
  return lease;
}
