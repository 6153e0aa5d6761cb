import type { TenantLimiter } from "../../src/core/ratelimit/tenant-limiter";
import { type Harness, type Open, sleep, uniqueName } from "./harness";

/**
 * A tenant's limiter (`tenantLimiter`) as the rate limiter and the event streams call it through a
 * runtime's host. Cases run in real time: limits are low enough (one token back every 6 s or more)
 * that refills during a case do not change what it counts.
 */
export function limiterConformance({ test, assert }: Harness, open: Open<TenantLimiter>) {
  const limiter = () => open(uniqueName("limiter"));

  test("limiter: takes up to the limit, then refuses with when to retry, and the refusal takes nothing", async () => {
    const tenant = limiter();
    const first = await tenant.take("creates", 3, 3, false);
    assert.equal(first.granted, 3);
    assert.equal(first.limit, 3);
    assert.equal(first.remaining, 0);
    assert.equal(first.retryAfterSeconds, 0);

    const refused = await tenant.take("creates", 1, 3, false);
    assert.equal(refused.granted, 0);
    assert.equal(refused.remaining, 0);
    assert.ok(refused.retryAfterSeconds >= 1 && refused.retryAfterSeconds <= 20);
    assert.ok(refused.resetSeconds > 0 && refused.resetSeconds <= 60);
  });

  test("limiter: a take that does not fit is refused whole unless partial, which gets what is left", async () => {
    const tenant = limiter();
    assert.equal((await tenant.take("reads", 4, 10, false)).granted, 4);
    assert.equal((await tenant.take("reads", 7, 10, false)).granted, 0);
    const partial = await tenant.take("reads", 7, 10, true);
    assert.equal(partial.granted, 6);
    assert.equal(partial.remaining, 0);
    assert.equal((await tenant.take("reads", 1, 10, true)).granted, 0);
  });

  test("limiter: buckets count apart, and each name is a tenant of its own", async () => {
    const tenant = limiter();
    assert.equal((await tenant.take("creates", 2, 2, false)).granted, 2);
    assert.equal((await tenant.take("reads", 2, 2, false)).granted, 2);
    assert.equal((await tenant.take("creates", 1, 2, false)).granted, 0);
    assert.equal((await limiter().take("creates", 2, 2, false)).granted, 2);
  });

  test("limiter: a refund gives one token back, to the tenant and to the end user", async () => {
    const tenant = limiter();
    const share = { user: "sub:a", limit: 1 };
    assert.equal((await tenant.take("creates", 1, 2, false, share)).granted, 1);
    assert.equal((await tenant.take("creates", 1, 2, false, share)).granted, 0);
    await tenant.refund("creates", 2, share);
    assert.equal((await tenant.take("creates", 1, 2, false, share)).granted, 1);

    assert.equal((await tenant.take("creates", 1, 2, false)).granted, 1);
    assert.equal((await tenant.take("creates", 1, 2, false)).granted, 0);
    await tenant.refund("creates", 2);
    assert.equal((await tenant.take("creates", 1, 2, false)).granted, 1);
    // Never above the limit: refunds to a full bucket are lost.
    const other = limiter();
    await other.refund("creates", 2);
    await other.refund("creates", 2);
    assert.equal((await other.take("creates", 3, 2, true)).granted, 2);
  });

  test("limiter: an end user spends at most its share, and all of them at most the tenant's limit", async () => {
    const tenant = limiter();
    const a = { user: "sub:a", limit: 2 };
    const b = { user: "sub:b", limit: 2 };
    const c = { user: "sub:c", limit: 2 };
    assert.equal((await tenant.take("creates", 2, 3, false, a)).granted, 2);
    const overShare = await tenant.take("creates", 1, 3, false, a);
    assert.equal(overShare.granted, 0);
    assert.equal(overShare.limit, 2, "a refusal by the share names the share's limit");
    assert.equal((await tenant.take("creates", 2, 3, true, b)).granted, 1);
    assert.equal((await tenant.take("creates", 1, 3, false, c)).granted, 0);
  });

  test("limiter: stream leases up to the tenant's limit and the end user's share; a closed one frees its place", async () => {
    const tenant = limiter();
    const share = { user: "sub:a", limit: 1 };
    const mine = await tenant.openStream(2, 60_000, share);
    assert.equal(typeof mine, "string");
    assert.equal(await tenant.openStream(2, 60_000, share), null);
    const other = await tenant.openStream(2, 60_000);
    assert.equal(typeof other, "string");
    assert.ok(other !== mine);
    assert.equal(await tenant.openStream(2, 60_000), null);
    assert.equal(await tenant.openStreams(), 2);

    await tenant.closeStream(mine as string);
    assert.equal(await tenant.openStreams(), 1);
    assert.equal(typeof (await tenant.openStream(2, 60_000, share)), "string");
    // Closing a lease that is not open (twice, or unknown) changes nothing.
    await tenant.closeStream(mine as string);
    await tenant.closeStream("no-such-lease");
    assert.equal(await tenant.openStreams(), 2);
    assert.equal(await limiter().openStreams(), 0);
  });

  test("limiter: a lease not closed lapses after its time and counts no more", async () => {
    const tenant = limiter();
    assert.equal(typeof (await tenant.openStream(1, 150)), "string");
    assert.equal(await tenant.openStream(1, 150), null);
    await sleep(300);
    assert.equal(await tenant.openStreams(), 0);
    assert.equal(typeof (await tenant.openStream(1, 60_000)), "string");
  });

  test("limiter: concurrent calls to one tenant lose no update (20 takes of 1 against 10 grant 10)", async () => {
    const tenant = limiter();
    const takes = await Promise.all(
      Array.from({ length: 20 }, () => tenant.take("creates", 1, 10, false)),
    );
    assert.equal(takes.filter((decision) => decision.granted === 1).length, 10);
    assert.equal(takes.filter((decision) => decision.granted === 0).length, 10);

    const leases = await Promise.all(Array.from({ length: 8 }, () => tenant.openStream(3, 60_000)));
    const opened = leases.filter((lease) => lease !== null);
    assert.equal(opened.length, 3);
    assert.equal(new Set(opened).size, 3);
    assert.equal(await tenant.openStreams(), 3);
  });

  test("limiter: arguments are taken when called and answers are copies", async () => {
    const tenant = limiter();
    const share = { user: "sub:a", limit: 1 };
    const taking = tenant.take("creates", 1, 5, false, share);
    // Changed before the call has run: a host that passed the object itself would count sub:b.
    share.user = "sub:b";
    const decision = await taking;
    assert.equal(decision.granted, 1);
    decision.granted = 99;
    const next = await tenant.take("creates", 1, 5, false, { user: "sub:a", limit: 1 });
    assert.equal(next.granted, 0, "sub:a's share was spent by the first take");
    assert.equal((await tenant.take("creates", 1, 5, false, share)).granted, 1);
  });
}
