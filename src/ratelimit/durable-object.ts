import { DurableObject } from "cloudflare:workers";
import { type BucketState, type Decision, returnToken, takeTokens } from "./bucket";

export type BucketName = "reads" | "creates";

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

  /** Open event streams: lease id -> when the lease lapses even if nobody closes it. */
  private streams = new Map<string, number>();

  /** Claims one of the tenant's `limit` open streams for at most `leaseMs`; null when all are taken. */
  openStream(limit: number, leaseMs: number): string | null {
    const now = Date.now();
    for (const [id, until] of this.streams) if (until <= now) this.streams.delete(id);
    if (this.streams.size >= limit) return null;
    const id = crypto.randomUUID();
    this.streams.set(id, now + leaseMs);
    return id;
  }

  closeStream(leaseId: string): void {
    this.streams.delete(leaseId);
  }

  /** Gives back a token taken for a request that then did nothing billable. */
  async refund(bucket: BucketName, limitPerMinute: number): Promise<void> {
    const saved = this.buckets.get(bucket) ?? (await this.ctx.storage.get<BucketState>(bucket));
    const state = returnToken(saved, { limitPerMinute, now: Date.now() });
    this.buckets.set(bucket, state);
    await this.ctx.storage.put(bucket, state);
  }
}
