import { createMemo } from "../memo";
import { createSnapshot } from "./snapshot";
import type { JobStore, OwnedJob, Tenant, TenantStore } from "./store";

/** How stale a memoised answer may be: a revoked key or disabled tenant stops within this. */
export const MEMO_TTL_MS = 10_000;
const MAX_ENTRIES = 5_000;
/** With D1 down and no set of origins yet, preflights are refused this long before asking again. */
const ORIGINS_RETRY_MS = 1_000;
/** A key unknown to this isolate's set reloads the set at most this often: new keys work. */
const KEY_HASHES_RELOAD_MS = 1_000;

// One set per isolate: every request of this isolate shares them.
const keyMemo = createMemo<{ tenant: Tenant; keyId: string }>({
  ttlMs: MEMO_TTL_MS,
  maxEntries: MAX_ENTRIES,
});
const tenantMemo = createMemo<Tenant>({ ttlMs: MEMO_TTL_MS, maxEntries: MAX_ENTRIES });
// Asked only for validly signed tokens, so both answers are kept: a revoked key stays revoked.
const liveKeyMemo = createMemo<boolean>({ ttlMs: MEMO_TTL_MS, maxEntries: MAX_ENTRIES });
const ownerMemo = createMemo<OwnedJob>({ ttlMs: MEMO_TTL_MS, maxEntries: MAX_ENTRIES });
// "No such job" is memoised too, apart from owners so that unknown ids cannot evict them: a
// foreign job and an unknown one then cost the same (nothing) when asked again, and timing
// cannot tell them apart.
const noOwnerMemo = createMemo<true>({ ttlMs: MEMO_TTL_MS, maxEntries: MAX_ENTRIES });

/** Forgets everything this isolate memoised (tests, and an operator's change made here). */
export function forgetMemoised(): void {
  for (const memo of [keyMemo, tenantMemo, liveKeyMemo, ownerMemo, noOwnerMemo]) memo.clear();
}

/** The hot-path lookups of `inner`, memoised; writes go through and drop what they change. */
export function memoisedTenantStore(inner: TenantStore): TenantStore {
  // CORS asks before anyone is authenticated: a random Origin must not cost a query, so the
  // whole (small) set is held and refreshed, one query per isolate per MEMO_TTL_MS.
  const origins = createSnapshot(() => inner.enabledOrigins(), {
    ttlMs: MEMO_TTL_MS,
    retryMs: ORIGINS_RETRY_MS,
    serveStale: true,
  });
  // Likewise a wrong API key: only a hash in the set of live ones is looked up. A hash the set
  // lacks reloads it (at most once a second, shared), so a key made in another isolate works at
  // once. Never stale: a D1 outage must answer 503, not "unknown key".
  const keyHashes = createSnapshot(() => inner.liveKeyHashes(), {
    ttlMs: MEMO_TTL_MS,
    retryMs: 0,
    serveStale: false,
  });
  const mayBeLive = async (hash: string) =>
    (await keyHashes.get()).has(hash) || (await keyHashes.get(KEY_HASHES_RELOAD_MS)).has(hash);
  return {
    ...inner,
    liveKeyHashes: () => keyHashes.get(),
    async tenantByKeyHash(hash) {
      const known = keyMemo.get(hash);
      if (known) return known;
      if (!(await mayBeLive(hash))) return null;
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
    enabledOrigins: () => origins.get(),
    async createTenant(input) {
      const created = await inner.createTenant(input);
      origins.invalidate();
      return created;
    },
    async updateTenant(id, patch) {
      const updated = await inner.updateTenant(id, patch);
      // Key entries embed the tenant: drop them all rather than track which belong to it.
      keyMemo.clear();
      tenantMemo.delete(id);
      origins.invalidate();
      return updated;
    },
    async addKey(input) {
      const added = await inner.addKey(input);
      keyHashes.invalidate();
      return added;
    },
    async revokeKey(tenantId, keyId) {
      const revoked = await inner.revokeKey(tenantId, keyId);
      keyMemo.clear();
      liveKeyMemo.delete(`${tenantId}/${keyId}`);
      return revoked;
    },
    async keyIsLive(tenantId, keyId) {
      const memoKey = `${tenantId}/${keyId}`;
      const known = liveKeyMemo.get(memoKey);
      if (known !== undefined) return known;
      const live = await inner.keyIsLive(tenantId, keyId);
      liveKeyMemo.set(memoKey, live);
      return live;
    },
    async revokeTokens(tenantId) {
      const updated = await inner.revokeTokens(tenantId);
      keyMemo.clear();
      tenantMemo.delete(tenantId);
      return updated;
    },
  };
}

export function memoisedJobStore(inner: JobStore): JobStore {
  return {
    ...inner,
    async ownerOf(jobId) {
      const known = ownerMemo.get(jobId) ?? (noOwnerMemo.get(jobId) && null);
      if (known !== undefined) return known;
      const found = await inner.ownerOf(jobId);
      if (found) ownerMemo.set(jobId, found);
      else noOwnerMemo.set(jobId, true);
      return found;
    },
    // A job this isolate records or assigns is readable by its owner at once.
    async record(job) {
      const result = await inner.record(job);
      noOwnerMemo.delete(job.id);
      return result;
    },
    async assign(job) {
      await inner.assign(job);
      ownerMemo.delete(job.id);
      noOwnerMemo.delete(job.id);
    },
    async recordProgress(jobId, status, pages) {
      await inner.recordProgress(jobId, status, pages);
      ownerMemo.delete(jobId);
    },
  };
}
