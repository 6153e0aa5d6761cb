import { describe, expect, it } from "vitest";
import { createMemo } from "./memo";

function memoAt(start: number, options: { ttlMs: number; maxEntries: number }) {
  const clock = { now: start };
  const memo = createMemo<string>({ ...options, now: () => clock.now });
  return { memo, clock };
}

describe("createMemo", () => {
  it("answers a value until its age reaches ttlMs, then forgets it", () => {
    const { memo, clock } = memoAt(1_000, { ttlMs: 10_000, maxEntries: 10 });
    memo.set("key", "tenant-a");
    clock.now += 9_999;
    expect(memo.get("key")).toBe("tenant-a");
    clock.now += 1;
    expect(memo.get("key")).toBeUndefined();
  });

  it("counts the age from the last set, not the first", () => {
    const { memo, clock } = memoAt(0, { ttlMs: 100, maxEntries: 10 });
    memo.set("key", "old");
    clock.now = 90;
    memo.set("key", "new");
    clock.now = 150;
    expect(memo.get("key")).toBe("new");
  });

  it("drops the oldest entry when full; setting a key again makes it the newest", () => {
    const { memo } = memoAt(0, { ttlMs: 1_000, maxEntries: 2 });
    memo.set("a", "1");
    memo.set("b", "2");
    memo.set("a", "1 again");
    memo.set("c", "3");
    expect(memo.get("b")).toBeUndefined();
    expect(memo.get("a")).toBe("1 again");
    expect(memo.get("c")).toBe("3");
  });

  it("forgets a deleted key at once, and everything on clear", () => {
    const { memo } = memoAt(0, { ttlMs: 1_000, maxEntries: 10 });
    memo.set("a", "1");
    memo.set("b", "2");
    memo.delete("a");
    expect(memo.get("a")).toBeUndefined();
    expect(memo.get("b")).toBe("2");
    memo.clear();
    expect(memo.get("b")).toBeUndefined();
  });
});
