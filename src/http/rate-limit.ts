import { createMiddleware } from "hono/factory";
import { describeError } from "../core/errors";
import type { BucketName, Decision } from "../core/ratelimit/bucket";
import { endUserShare } from "../core/ratelimit/share";
import type { Services } from "../core/services";
import type { Tenant } from "../core/tenancy/store";
import { fail } from "./errors";
import type { Authenticated } from "./tenant-auth";

/** Gives back the creation `limitCreations` counted, for a request that billed nothing. */
export type Refund = () => void;
export type CreationCounted = Authenticated & { Variables: { refundCreation: Refund } };

/** An unlimited creation took nothing; one constant, not a closure per request. */
const NOTHING_TO_REFUND: Refund = () => {};

/** What a request answers when its limit cannot be checked: never served without one. */
export function limiterUnavailable(): never {
  fail("rate_limiter_unavailable", "rate limiter is unavailable, retry later", {
    "Retry-After": "5",
  });
}

/**
 * Per-tenant limits, and each end user's share of them, after authentication. Answers carry
 * `RateLimit-*` headers (of the caller's share); a refusal is a 429 with `Retry-After`. If the
 * limiter itself is down or slow, the request is refused with 503: no caller goes unlimited.
 */
export function limitReads(services: Services) {
  return createMiddleware<Authenticated>(async (c, next) => {
    const { principal } = c.var;
    const { tenant } = principal;
    const limit = tenant.rateLimits.readsPerMinute ?? services.config.readRateLimitPerMin;
    if (limit === 0) return next();
    const share = endUserShare(principal, limit, tenant.rateLimits.endUserReadsPerMinute);
    let decision: Decision;
    try {
      const { scope } = c.var;
      // The next lease is asked for after the answer: a hit waits on no round trip.
      decision = await services.rateLimiter.take(tenant.id, "reads", limit, share, (work) =>
        scope.waitUntil(work),
      );
    } catch (err) {
      c.var.log.error("rate limiter unavailable: read refused", { error: describeError(err) });
      limiterUnavailable();
    }
    const headers = rateLimitHeaders(decision);
    if (decision.granted === 0) refuse(c.var.log, "reads", decision, headers);
    await next();
    setHeaders(c.res.headers, headers);
  });
}

export function limitCreations(services: Services) {
  return createMiddleware<CreationCounted>(async (c, next) => {
    const { principal } = c.var;
    const { tenant } = principal;
    const limit = creationLimit(services, tenant);
    c.set("refundCreation", NOTHING_TO_REFUND);
    if (limit === 0) return next();
    const share = endUserShare(principal, limit, tenant.rateLimits.endUserCreatesPerMinute);
    let decision: Decision;
    try {
      decision = await services.rateLimiter.take(tenant.id, "creates", limit, share);
    } catch (err) {
      c.var.log.error("rate limiter unavailable: creation refused", { error: describeError(err) });
      limiterUnavailable();
    }
    const headers = rateLimitHeaders(decision);
    if (decision.granted === 0) refuse(c.var.log, "creates", decision, headers);
    const { scope } = c.var;
    c.set("refundCreation", () => {
      scope.waitUntil(
        services.rateLimiter.refundCreation(tenant.id, limit, share).catch((err: unknown) => {
          scope.log.warn("creation not refunded", { error: describeError(err) });
        }),
      );
    });
    await next();
    setHeaders(c.res.headers, headers);
  });
}

function creationLimit(services: Services, tenant: Tenant): number {
  return tenant.rateLimits.createsPerMinute ?? services.config.createRateLimitPerMin;
}

function rateLimitHeaders(decision: Decision): Record<string, string> {
  return {
    "RateLimit-Limit": String(decision.limit),
    "RateLimit-Remaining": String(decision.remaining),
    "RateLimit-Reset": String(decision.resetSeconds),
  };
}

function refuse(
  log: { annotate(fields: Record<string, unknown>): void },
  bucket: BucketName,
  decision: Decision,
  headers: Record<string, string>,
): never {
  log.annotate({ rateLimited: bucket });
  fail("rate_limited", `rate limit exceeded: ${decision.limit} ${bucket} per minute`, {
    ...headers,
    "Retry-After": String(decision.retryAfterSeconds),
  });
}

function setHeaders(target: Headers, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) target.set(name, value);
}
