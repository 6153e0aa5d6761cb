import {
  leasedRateLimiter,
  RATE_LIMITER_DEFAULTS,
  type RateLimiter,
  type RateLimiterOptions,
} from "../../core/ratelimit/limiter";
import type { StreamLeases } from "../../core/watching/events";
import { OBJECT_DEADLINES_MS, objectCalls } from "./object-call";
import type { TenantRateLimiter } from "./objects/tenant-rate-limiter";

/** The rate limiter over the tenants' objects: one per isolate. */
export function durableRateLimiter(
  namespace: DurableObjectNamespace<TenantRateLimiter>,
  options: RateLimiterOptions = RATE_LIMITER_DEFAULTS,
): RateLimiter {
  const of = objectCalls(namespace, "rate limiter", options.timeoutMs);
  return leasedRateLimiter(
    {
      take: (tenantId, bucket, count, limit, partial, share) =>
        of(tenantId).take(bucket, count, limit, partial, share),
      refund: (tenantId, bucket, limit, share) => of(tenantId).refund(bucket, limit, share),
    },
    options,
  );
}

/**
 * A tenant's open streams are counted by its limiter object, as leases that lapse on their own:
 * a stream whose end was never reported (an isolate that died) stops counting after `leaseMs`.
 */
export function durableStreamLeases(
  namespace: DurableObjectNamespace<TenantRateLimiter>,
): StreamLeases {
  const of = objectCalls(namespace, "stream leases", OBJECT_DEADLINES_MS.limiter);
  return {
    open: (tenantId, limit, leaseMs, share) => of(tenantId).openStream(limit, leaseMs, share),
    close: (tenantId, leaseId) => of(tenantId).closeStream(leaseId),
    count: (tenantId) => of(tenantId).openStreams(),
  };
}
