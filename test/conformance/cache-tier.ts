import type { CachedJob } from "../../src/core/cache/entry";
import type { CacheTier } from "../../src/core/cache/tiers";
import type { Logger } from "../../src/core/log";
import type { Fresh, Harness } from "./harness";

/** For the adapters that log: a case's warnings are not what it checks. */
export const quietLog: Logger = { info() {}, warn() {}, error() {}, alert() {}, annotate() {} };

export interface CacheTierPromises {
  /** The largest body (ASCII) the tier keeps; a byte more and `keeps` refuses it. */
  maxBodyBytes?: number;
  /** Moves the tier's clock on, where the runtime lets a test do so: expiry is then checked. */
  advance?: (ms: number) => void;
}

/**
 * A `CacheTier` as the tiered job cache relies on it: an entry reads back exactly as put (any id,
 * any body), until it is replaced, deleted or expires; `keeps` tells the truth about what it holds.
 */
export function cacheTierConformance(
  { test, assert }: Harness,
  fresh: Fresh<CacheTier>,
  promises: CacheTierPromises = {},
) {
  const entry = (status: string, overrides: Partial<CachedJob> = {}): CachedJob => ({
    id: `job-${crypto.randomUUID()}`,
    status,
    pages: 2,
    body: '{"id":"x","status":"COMPLETED","urls":{"get":}}',
    selfAt: 38,
    digest: status === "COMPLETED" || status === "FAILED" ? "q83vEjRWeJA=" : "",
    fetchedAt: 1_765_000_000_000,
    ...overrides,
  });
  const minute = 60_000;

  test("CacheTier: an entry reads back exactly as put; a missing one is null", async () => {
    const tier = await fresh();
    const put = entry("COMPLETED");
    assert.equal(await tier.get(put.id), null);
    assert.ok(tier.keeps(put));
    await tier.put(put, 5 * minute);
    assert.deepEqual(await tier.get(put.id), put);
  });

  test("CacheTier: any id and any body, unicode included, read back unchanged", async () => {
    const tier = await fresh();
    const put = entry("FAILED", {
      id: `jöb/ü ${crypto.randomUUID()}?#%`,
      body: '{"name":"Rechnung – März 📄","urls":{"get":}}',
    });
    await tier.put(put, 5 * minute);
    assert.deepEqual(await tier.get(put.id), put);
  });

  test("CacheTier: a put replaces the entry; delete removes it and no other", async () => {
    const tier = await fresh();
    const first = entry("COMPLETED");
    const other = entry("COMPLETED");
    await tier.put(first, 5 * minute);
    await tier.put(other, 5 * minute);
    const replaced = { ...first, pages: 9, body: '{"urls":{"get":},"pages":9}', selfAt: 15 };
    await tier.put(replaced, 5 * minute);
    assert.deepEqual(await tier.get(first.id), replaced);
    await tier.delete(first.id);
    assert.equal(await tier.get(first.id), null);
    assert.deepEqual(await tier.get(other.id), other);
    await tier.delete(first.id);
  });

  test("CacheTier: a pending job is kept only by a tier that says it keeps pending ones", async () => {
    const tier = await fresh();
    for (const status of ["CREATED", "RUNNING"]) {
      const pending = entry(status);
      assert.equal(tier.keeps(pending), tier.keepsPending, status);
      if (!tier.keepsPending) continue;
      await tier.put(pending, minute);
      assert.deepEqual(await tier.get(pending.id), pending);
    }
  });

  const { maxBodyBytes, advance } = promises;
  if (maxBodyBytes !== undefined) {
    test("CacheTier: keeps a body up to its size limit, and refuses a larger one", async () => {
      const tier = await fresh();
      assert.ok(tier.keeps(entry("COMPLETED", { body: "x".repeat(maxBodyBytes) })));
      assert.equal(tier.keeps(entry("COMPLETED", { body: "x".repeat(maxBodyBytes + 1) })), false);
    });
  }

  if (advance) {
    test("CacheTier: an entry is gone once its time to live has passed", async () => {
      const tier = await fresh();
      const put = entry("COMPLETED");
      await tier.put(put, 2 * minute);
      advance(2 * minute - 1_000);
      assert.deepEqual(await tier.get(put.id), put);
      advance(2_000);
      assert.equal(await tier.get(put.id), null);
    });
  }
}
