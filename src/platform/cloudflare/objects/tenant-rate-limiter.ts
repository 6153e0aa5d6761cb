import { DurableObject } from "cloudflare:workers";
import type { BucketName, Decision } from "../../../core/ratelimit/bucket";
import type { EndUserShare } from "../../../core/ratelimit/share";
import { tenantLimiter } from "../../../core/ratelimit/tenant-limiter";
import { durableObjectStorage } from "../object-storage";

/**
 * One per tenant (named by tenant id): a shell over the core's `tenantLimiter`
 * (`core/ratelimit/tenant-limiter.ts`), kept in this object's storage.
 */
export class TenantRateLimiter extends DurableObject {
  private readonly limiter = tenantLimiter({ storage: durableObjectStorage(this.ctx.storage) });

  take(
    bucket: BucketName,
    want: number,
    limitPerMinute: number,
    partial: boolean,
    share?: EndUserShare,
  ): Promise<Decision> {
    return this.limiter.take(bucket, want, limitPerMinute, partial, share);
  }

  openStream(limit: number, leaseMs: number, share?: EndUserShare): Promise<string | null> {
    return this.limiter.openStream(limit, leaseMs, share);
  }

  closeStream(leaseId: string): Promise<void> {
    return this.limiter.closeStream(leaseId);
  }

  openStreams(): Promise<number> {
    return this.limiter.openStreams();
  }

  refund(bucket: BucketName, limitPerMinute: number, share?: EndUserShare): Promise<void> {
    return this.limiter.refund(bucket, limitPerMinute, share);
  }

  override alarm(): Promise<void> {
    return this.limiter.alarm();
  }
}
