import { describe, expect, it } from "vitest";
import { returnToken, takeTokens, takeWithinShare } from "./bucket";

const take = (
  state: Parameters<typeof takeTokens>[0],
  want: number,
  now: number,
  limitPerMinute = 60,
  partial = false,
) => takeTokens(state, { want, limitPerMinute, partial, now });

describe("takeTokens", () => {
  it("a new bucket is full: a burst up to the limit passes, the next is refused", () => {
    let state: Parameters<typeof takeTokens>[0];
    for (let i = 0; i < 60; i++) {
      const taken = take(state, 1, 0);
      expect(taken.decision.granted).toBe(1);
      state = taken.state;
    }
    const refused = take(state, 1, 0);
    expect(refused.decision).toMatchObject({ granted: 0, remaining: 0, retryAfterSeconds: 1 });
  });

  it("refills continuously at the limit's rate, never beyond the limit", () => {
    const empty = take(undefined, 60, 0).state;
    expect(take(empty, 30, 30_000).decision.granted).toBe(30);
    expect(take(empty, 31, 30_000).decision.granted).toBe(0);
    expect(take(empty, 61, 3_600_000).decision.granted).toBe(0);
    expect(take(empty, 60, 3_600_000).decision.granted).toBe(60);
  });

  it("grants what is there when partial grants are allowed", () => {
    const some = take(undefined, 55, 0).state;
    expect(take(some, 10, 0, 60, true).decision).toMatchObject({ granted: 5, remaining: 0 });
    expect(take(some, 10, 0, 60, false).decision).toMatchObject({ granted: 0, remaining: 5 });
  });

  it("a refusal says when one token is back, and when the bucket is full", () => {
    const empty = take(undefined, 6, 0, 6).state;
    const refused = take(empty, 1, 0, 6);
    expect(refused.decision.retryAfterSeconds).toBe(10);
    expect(refused.decision.resetSeconds).toBe(60);
  });

  it("a lowered limit caps what was saved under the old one", () => {
    const full = take(undefined, 0, 0, 1000).state;
    expect(take(full, 11, 0, 10).decision.granted).toBe(0);
    expect(take(full, 10, 0, 10).decision).toMatchObject({ granted: 10, limit: 10 });
  });
});

describe("returnToken", () => {
  it("gives one back, never above the limit", () => {
    const empty = take(undefined, 60, 0).state;
    expect(returnToken(empty, { limitPerMinute: 60, now: 0 }).tokens).toBe(1);
    expect(returnToken(undefined, { limitPerMinute: 60, now: 0 }).tokens).toBe(60);
  });
});

describe("takeWithinShare", () => {
  const share = (
    states: Parameters<typeof takeWithinShare>[0],
    want: number,
    now = 0,
    partial = false,
  ) => takeWithinShare(states, { want, limitPerMinute: 100, share: 10, partial, now });

  it("an end user spends at most its share, and the tenant counts what it spent", () => {
    const first = share({ tenant: undefined, user: undefined }, 10);
    expect(first.decision).toMatchObject({ granted: 10, limit: 10, remaining: 0 });
    expect(first.tenant.tokens).toBe(90);
    const more = share({ tenant: first.tenant, user: first.user }, 1);
    expect(more.decision.granted).toBe(0);
    expect(more.tenant.tokens).toBe(90);
  });

  it("all end users together spend at most the tenant's limit", () => {
    const drained = takeTokens(undefined, {
      want: 95,
      limitPerMinute: 100,
      partial: false,
      now: 0,
    });
    const user = share({ tenant: drained.state, user: undefined }, 10);
    expect(user.decision.granted).toBe(0);
    expect(user.user.tokens).toBe(10);
    const partial = share({ tenant: drained.state, user: undefined }, 10, 0, true);
    expect(partial.decision.granted).toBe(5);
    expect(partial.user.tokens).toBe(5);
  });
});
