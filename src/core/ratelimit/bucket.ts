/** Reads are cheap and leased out; creations cost money and are counted exactly. */
export type BucketName = "reads" | "creates";

/**
 * A token bucket per tenant and kind of request: `limitPerMinute` tokens at most, refilled
 * continuously at that rate, so bursts up to the limit pass and a steady rate above it does not.
 */
export interface BucketState {
  tokens: number;
  updatedAt: number;
}

export interface Decision {
  /** Tokens handed out: `want`, fewer when partial grants are allowed, or 0. */
  granted: number;
  limit: number;
  /** Whole tokens left after this decision. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until one more token is available (when nothing was granted). */
  retryAfterSeconds: number;
}

const MS_PER_MINUTE = 60_000;

export function takeTokens(
  state: BucketState | undefined,
  request: { want: number; limitPerMinute: number; partial: boolean; now: number },
): { state: BucketState; decision: Decision } {
  const { want, limitPerMinute: limit, partial, now } = request;
  const perMs = limit / MS_PER_MINUTE;
  const refilled = state ? state.tokens + (now - state.updatedAt) * perMs : limit;
  // A lowered limit caps what was saved under the old one.
  const tokens = Math.min(limit, refilled);
  const available = Math.floor(tokens);
  const granted = available >= want ? want : partial ? available : 0;
  const left = tokens - granted;
  return {
    state: { tokens: left, updatedAt: now },
    decision: {
      granted,
      limit,
      remaining: Math.floor(left),
      resetSeconds: Math.ceil((limit - left) / perMs / 1000),
      retryAfterSeconds: granted > 0 ? 0 : Math.max(1, Math.ceil((1 - left) / perMs / 1000)),
    },
  };
}

/** One token back, never above the limit: for a request that was counted but did nothing. */
export function returnToken(
  state: BucketState | undefined,
  request: { limitPerMinute: number; now: number },
): BucketState {
  const { limitPerMinute: limit, now } = request;
  const refilled = state ? state.tokens + ((now - state.updatedAt) * limit) / MS_PER_MINUTE : limit;
  return { tokens: Math.min(limit, refilled + 1), updatedAt: now };
}

/**
 * Tokens from an end user's own bucket and the tenant's at once: granted only what both have, so
 * one end user never spends more than `share` a minute, and all of them never more than `limit`.
 * A refusal leaves both buckets as they were.
 */
export function takeWithinShare(
  states: { tenant: BucketState | undefined; user: BucketState | undefined },
  request: { want: number; limitPerMinute: number; share: number; partial: boolean; now: number },
): { tenant: BucketState; user: BucketState; decision: Decision } {
  const { want, limitPerMinute, share, partial, now } = request;
  const own = takeTokens(states.user, { want, limitPerMinute: share, partial, now });
  if (own.decision.granted === 0) {
    const tenant = takeTokens(states.tenant, { want: 0, limitPerMinute, partial, now });
    return { tenant: tenant.state, user: own.state, decision: own.decision };
  }
  const all = takeTokens(states.tenant, {
    want: own.decision.granted,
    limitPerMinute,
    partial,
    now,
  });
  const spent = takeTokens(states.user, {
    want: all.decision.granted,
    limitPerMinute: share,
    partial: false,
    now,
  });
  if (all.decision.granted === 0)
    return { tenant: all.state, user: spent.state, decision: all.decision };
  return {
    tenant: all.state,
    user: spent.state,
    decision: {
      granted: all.decision.granted,
      limit: share,
      remaining: Math.min(all.decision.remaining, spent.decision.remaining),
      resetSeconds: spent.decision.resetSeconds,
      retryAfterSeconds: 0,
    },
  };
}
