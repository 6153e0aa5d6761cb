import type { MiddlewareHandler } from "hono";
import type { HonoEnv } from "../core/config";
import type { Decision } from "../core/ratelimit/bucket";
import { durableRateLimiter } from "../core/ratelimit/limiter";
import type { BucketName } from "../platform/cloudflare/rate-limiter";
import { describeError, fail } from "./errors";

/** An unlimited creation took nothing; set once, not a closure per request on the read path. */
const NOTHING_TO_REFUND = () => {};

/**
 * Per-tenant limits, after authentication. Answers carry `RateLimit-*` headers; a refusal is a
 * 429 with `Retry-After`. If the limiter itself is down, reads go on (they are cheap and cached)
 * but creations stop with 503: they cost money, and their limit must be exact.
 */
export function rateLimit(bucket: BucketName): MiddlewareHandler<HonoEnv> {
  return async (c, next) => {
    const { tenant } = c.get("principal");
    const config = c.get("config");
    const limit =
      bucket === "reads"
        ? (tenant.rateLimits.readsPerMinute ?? config.readRateLimitPerMin)
        : (tenant.rateLimits.createsPerMinute ?? config.createRateLimitPerMin);
    if (bucket === "creates") c.set("refundCreation", NOTHING_TO_REFUND);
    if (limit === 0) return next();

    const limiter = durableRateLimiter(c.env.RATE_LIMITER);
    let decision: Decision;
    try {
      decision = await limiter.take(tenant.id, bucket, limit);
    } catch (err) {
      if (bucket === "creates") {
        c.get("log").error("rate limiter unavailable: creation refused", {
          error: describeError(err),
        });
        fail(503, "rate limiter is unavailable, retry later", { "Retry-After": "5" });
      }
      c.get("log").warn("rate limiter unavailable: read allowed", { error: describeError(err) });
      return next();
    }

    const headers = {
      "RateLimit-Limit": String(limit),
      "RateLimit-Remaining": String(decision.remaining),
      "RateLimit-Reset": String(decision.resetSeconds),
    };
    if (decision.granted === 0) {
      c.get("log").annotate({ rateLimited: bucket });
      fail(429, `rate limit exceeded: ${limit} ${bucket} per minute`, {
        ...headers,
        "Retry-After": String(decision.retryAfterSeconds),
      });
    }
    if (bucket === "creates") {
      c.set("refundCreation", () => {
        c.executionCtx.waitUntil(
          limiter.refundCreation(tenant.id, limit).catch((err: unknown) => {
            c.get("log").warn("creation not refunded", { error: describeError(err) });
          }),
        );
      });
    }
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}
