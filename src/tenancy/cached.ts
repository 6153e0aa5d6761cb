import { createMemo } from "./memo";
import type { JobStore, OwnedJob, Tenant, TenantStore } from "./store";

/** How stale a positive answer may be: a revoked key or disabled tenant stops within this. */
export const MEMO_TTL_MS = 10_000;
const MAX_ENTRIES = 5_000;

// One set per isolate: every request of this isolate shares them.
const keyMemo = createMemo<{ tenant: Tenant; keyId: string }>({
  ttlMs: MEMO_TTL_MS,
  maxEntries: MAX_ENTRIES,
});
const tenantMemo = createMemo<Tenant>({ ttlMs: MEMO_TTL_MS, maxEntries: MAX_ENTRIES });
const originMemo = createMemo<true>({ ttlMs: MEMO_TTL_MS, maxEntries: MAX_ENTRIES });
const ownerMemo = createMemo<OwnedJob>({ ttlMs: MEMO_TTL_MS, maxEntries: MAX_ENTRIES });

/** Forgets everything this isolate memoised (tests, and an operator's change made here). */
export function forgetMemoised(): void {
  for (const memo of [keyMemo, tenantMemo, originMemo, ownerMemo]) memo.clear();
}

/** The hot-path lookups of `inner`, memoised; writes go through and drop what they change. */
export function memoisedTenantStore(inner: TenantStore): TenantStore {
  return {
    ...inner,
    async tenantByKeyHash(hash) {
      const known = keyMemo.get(hash);
      if (known) return known;
      const found = await inner.tenantByKeyHash(hash);
      if (found) keyMemo.set(hash, found);
      return found;
    },
    async getTenant(id) {
      const known = tenantMemo.get(id);
      if (known) return known;
      const found = await inner.getTenant(id);
      if (found) tenantMemo.set(id, found);
      return found;
    },
    async originIsKnown(origin) {
      if (originMemo.get(origin)) return true;
      const known = await inner.originIsKnown(origin);
      if (known) originMemo.set(origin, true);
      return known;
    },
    async updateTenant(id, patch) {
      const updated = await inner.updateTenant(id, patch);
      // Key entries embed the tenant: drop them all rather than track which belong to it.
      keyMemo.clear();
      tenantMemo.delete(id);
      originMemo.clear();
      return updated;
    },
    async revokeKey(tenantId, keyId) {
      const revoked = await inner.revokeKey(tenantId, keyId);
      keyMemo.clear();
      return revoked;
    },
  };
}

export function memoisedJobStore(inner: JobStore): JobStore {
  return {
    ...inner,
    async ownerOf(jobId) {
      const known = ownerMemo.get(jobId);
      if (known) return known;
      const found = await inner.ownerOf(jobId);
      if (found) ownerMemo.set(jobId, found);
      return found;
    },
    async assign(job) {
      await inner.assign(job);
      ownerMemo.delete(job.id);
    },
    async recordProgress(jobId, status, pages) {
      await inner.recordProgress(jobId, status, pages);
      ownerMemo.delete(jobId);
    },
  };
}
