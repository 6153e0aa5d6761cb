import { describe, expect, it } from "vitest";
import { memoryObjectStorage } from "../objects-memory";
import { FULL_AFTER_MS, tenantLimiter } from "./tenant-limiter";

/** An actor's storage that counts its writes, and a clock the test moves. */
function actor() {
  const storage = memoryObjectStorage();
  let writes = 0;
  const put = storage.put;
  storage.put = (entries) => {
    writes++;
    return put(entries);
  };
  const clock = { at: 1_000_000 };
  let ids = 0;
  const limiter = tenantLimiter({
    storage,
    now: () => clock.at,
    newLeaseId: () => `lease-${++ids}`,
  });
  return { storage, limiter, clock, writes: () => writes };
}

describe("a tenant's limiter", () => {
  it("writes nothing when it refuses: the state it would write is the one stored", async () => {
    const { storage, limiter, writes } = actor();
    expect((await limiter.take("creates", 2, 2, false)).granted).toBe(2);
    const stored = structuredClone([...storage.entries]);
    const before = writes();

    const refused = await limiter.take("creates", 1, 2, false);
    const refusedForUser = await limiter.take("creates", 1, 2, false, { user: "sub:a", limit: 1 });

    expect(refused).toMatchObject({ granted: 0, retryAfterSeconds: 30 });
    expect(refusedForUser.granted).toBe(0);
    expect(writes()).toBe(before);
    expect([...storage.entries]).toEqual(stored);
  });

  it("counts from storage after an eviction: a new actor hands out no fresh burst", async () => {
    const { storage, limiter, clock } = actor();
    expect((await limiter.take("reads", 60, 60, false)).granted).toBe(60);
    const revived = tenantLimiter({ storage, now: () => clock.at });
    expect((await revived.take("reads", 1, 60, false)).granted).toBe(0);
    clock.at += 1_000;
    expect((await revived.take("reads", 1, 60, false)).granted).toBe(1);
  });

  it("gives a refunded token back to the tenant and to the end user", async () => {
    const { limiter } = actor();
    const share = { user: "sub:a", limit: 1 };
    expect((await limiter.take("creates", 1, 10, false, share)).granted).toBe(1);
    expect((await limiter.take("creates", 1, 10, false, share)).granted).toBe(0);
    await limiter.refund("creates", 10, share);
    expect((await limiter.take("creates", 1, 10, false, share)).granted).toBe(1);
  });

  it("leases streams up to the tenant's limit and the end user's share; lapsed ones count no more", async () => {
    const { limiter, clock } = actor();
    const share = { user: "sub:a", limit: 1 };
    const first = await limiter.openStream(2, 10_000, share);
    expect(first).toBe("lease-1");
    expect(await limiter.openStream(2, 10_000, share)).toBeNull();
    expect(await limiter.openStream(2, 10_000)).toBe("lease-2");
    expect(await limiter.openStream(2, 10_000)).toBeNull();
    expect(await limiter.openStreams()).toBe(2);

    await limiter.closeStream("lease-2");
    expect(await limiter.openStreams()).toBe(1);
    clock.at += 10_000;
    expect(await limiter.openStreams()).toBe(0);
    expect(await limiter.openStream(1, 10_000, share)).toBe("lease-3");
  });

  it("sweeps end users' buckets once full again, and keeps its alarm while some are not", async () => {
    const { storage, limiter, clock } = actor();
    await limiter.take("reads", 1, 60, false, { user: "sub:gone", limit: 10 });
    expect(storage.alarm()).toBe(clock.at + FULL_AFTER_MS);
    clock.at += FULL_AFTER_MS;
    await limiter.take("reads", 1, 60, false, { user: "sub:active", limit: 10 });

    await limiter.alarm();

    expect([...storage.entries.keys()].filter((key) => key.startsWith("share/"))).toEqual([
      "share/reads/sub:active",
    ]);
    expect(storage.alarm()).toBe(clock.at + FULL_AFTER_MS);
    clock.at += FULL_AFTER_MS;
    await storage.deleteAlarm();
    await limiter.alarm();
    expect(storage.entries.has("share/reads/sub:active")).toBe(false);
    expect(storage.alarm()).toBeNull();
  });
});
