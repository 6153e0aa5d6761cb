import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Decision } from "../../src/core/ratelimit/bucket";
import type { TenantRateLimiter } from "../../src/platform/cloudflare/objects/tenant-rate-limiter";
import { durableRateLimiter } from "../../src/platform/cloudflare/rate-limiter";

/**
 * The read lease is shared by every request of an isolate. Workers never settles a promise whose
 * creating request went away, so these tests stand in for the Durable Object with one whose
 * answers can be withheld: that is what a waiter sees when the request that asked was cancelled.
 */
function objectAnswering(answers: (() => Promise<Decision>)[]) {
  const calls: number[] = [];
  const namespace = {
    idFromName: (name: string) => name,
    get: () => ({
      take: (_bucket: string, count: number) => {
        calls.push(count);
        const answer = answers[calls.length - 1] ?? answers[answers.length - 1];
        if (!answer) throw new Error("no answer left");
        return answer();
      },
    }),
  } as unknown as DurableObjectNamespace<TenantRateLimiter>;
  return { namespace, calls };
}

const granted = (count: number): Decision => ({
  granted: count,
  limit: 600,
  remaining: 100,
  resetSeconds: 1,
  retryAfterSeconds: 0,
});
const never = () => new Promise<Decision>(() => {});

describe("read leases", () => {
  it("serve concurrent reads with one round trip to the tenant's object", async () => {
    const { namespace, calls } = objectAnswering([async () => granted(10)]);
    const limiter = durableRateLimiter(namespace);

    const decisions = await Promise.all(
      Array.from({ length: 5 }, () => limiter.take("tnt_lease_shared", "reads", 600)),
    );

    expect(decisions.map((d) => d.granted)).toEqual([1, 1, 1, 1, 1]);
    expect(calls).toHaveLength(1);
  });

  it("do not leave reads waiting forever on a refill whose request was cancelled", async () => {
    const { namespace, calls } = objectAnswering([never, async () => granted(10)]);
    const limiter = durableRateLimiter(namespace, { refillWaitMs: 50, timeoutMs: 5_000 });

    void limiter.take("tnt_lease_cancelled", "reads", 600);
    const waiter = await limiter.take("tnt_lease_cancelled", "reads", 600);
    const later = await limiter.take("tnt_lease_cancelled", "reads", 600);

    expect(waiter.granted).toBe(1);
    expect(later.granted).toBe(1);
    expect(calls).toHaveLength(2);
  });

  it("give up on an object that does not answer, so the read can be refused (503)", async () => {
    const { namespace } = objectAnswering([never]);
    const limiter = durableRateLimiter(namespace, { refillWaitMs: 1_000, timeoutMs: 50 });

    await expect(limiter.take("tnt_lease_hung", "reads", 600)).rejects.toThrow(/no answer/);
  });

  it("give up on a creation the object does not answer, so it can be refused", async () => {
    const { namespace } = objectAnswering([never]);
    const limiter = durableRateLimiter(namespace, { refillWaitMs: 1_000, timeoutMs: 50 });

    await expect(limiter.take("tnt_create_hung", "creates", 10)).rejects.toThrow(/no answer/);
  });
});

describe("end users' buckets in the tenant's object", () => {
  it("are deleted once full again, so storage does not grow with the end users ever seen", async () => {
    const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("tnt_share_sweep"));
    for (const user of ["sub:gone", "sub:active"]) {
      expect((await limiter.take("reads", 1, 60, false, { user, limit: 10 })).granted).toBe(1);
    }
    // A minute without a request refills any bucket: this one was last used that long ago.
    await runInDurableObject(limiter, (_, state) =>
      state.storage.put("share/reads/sub:gone", { tokens: 9, updatedAt: Date.now() - 61_000 }),
    );

    expect(await runDurableObjectAlarm(limiter)).toBe(true);

    const kept = await runInDurableObject(limiter, async (_, state) => [
      ...(await state.storage.list({ prefix: "share/" })).keys(),
    ]);
    expect(kept).toEqual(["share/reads/sub:active"]);
  });
});
