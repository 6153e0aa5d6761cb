import { coalesce } from "../coalesce";
import { StorageUnavailableError } from "../errors";
import type { RequestScope } from "../log";
import { createMemo } from "../memo";
import { withTimeout } from "../timeout";
import { hasExpired } from "./access";
import { STORAGE_TIMEOUT_MS } from "./guard";
import { hashApiKey, isLegacyKey, type KeyCheck, mayBeLiveKey } from "./keys";
import type { FindQuery, Found, JobStore, LiveKey, OwnedJob, Tenant, TenantStore } from "./store";

/**
 * What requests look up about their caller and their job, as cheaply as the answer allows:
 * 1. this isolate's memo (no I/O);
 * 2. the lookups of this location (`SharedLookups`: the Cache API on Workers), shared by its
 *    isolates, so a new isolate does not go back to the database for what a neighbour just read;
 * 3. storage, every missing part in one round trip (`TenantStore.find`).
 * An answer is fresh for `MEMO_TTL_MS` after storage gave it, wherever it is kept: that is how
 * long a revoked key or a disabled tenant can go on working elsewhere. While storage is down,
 * answers up to `STALE_LIMIT_MS` old may stand in where the caller allows it (`allowStale`).
 */

/**
 * How stale a looked-up answer may be. A revoked key or a disabled tenant stops within 10 s
 * everywhere: within this for a request, and within this and one more second for an open event
 * stream, which asks again every second.
 */
export const MEMO_TTL_MS = 9_000;
/** How old an answer may be to stand in while storage is down (cached finished jobs only). */
export const STALE_LIMIT_MS = 10 * 60_000;
const MAX_ENTRIES = 5_000;
/** A legacy-looking key not in the isolate's set reloads the set at most this often. */
const LEGACY_RELOAD_MS = 60_000;
/** A location's lookups slower than this count as a miss: storage is asked instead. */
const SHARED_READ_TIMEOUT_MS = 300;
/**
 * A key's `lastUsedAt` is written when the one storage gave is older than this, at most once
 * this often per key per isolate, after the answer: listings are under an hour stale (this and
 * MEMO_TTL_MS), and a busy key costs a write an hour, not one a request.
 */
export const KEY_USE_WRITE_MS = 55 * 60_000;

/** A looked-up answer and when the lookup that gave it started. */
export interface Stamped<V> {
  value: V;
  loadedAt: number;
}

/** The lookups of one location, shared by its isolates (never the source of truth). */
export interface SharedLookups {
  get(name: string): Promise<Stamped<unknown> | undefined>;
  put(name: string, entry: Stamped<unknown>): Promise<void>;
  delete(name: string): Promise<void>;
}

export interface LookupOptions {
  /** The job the request is about: its owner is looked up in the same round trip. */
  jobId?: string;
  /** While storage is down, answers up to STALE_LIMIT_MS old will do. */
  allowStale?: boolean;
}

/** An answer, and whether it is a stale stand-in for one storage could not give. */
export interface Looked<V> {
  value: V;
  stale: boolean;
}

export interface Directory {
  /**
   * The live API key `key` and its tenant, or null (also once it has expired, checked now, even
   * against a remembered or stand-in answer). A made-up key costs no I/O.
   */
  apiKey(
    key: string,
    scope: RequestScope,
    options?: LookupOptions,
  ): Promise<Looked<LiveKey | null>>;
  /** A browser token's tenant, and whether the key that minted it is live (and unexpired). */
  token(
    tenantId: string,
    keyId: string,
    scope: RequestScope,
    options?: LookupOptions,
  ): Promise<Looked<{ tenant: Tenant | null; keyLive: boolean }>>;
  owner(
    jobId: string,
    scope: RequestScope | undefined,
    options?: Pick<LookupOptions, "allowStale">,
  ): Promise<Looked<OwnedJob | null>>;
  /** The stores, their writes forgetting what they change (here at once, in this location too). */
  tenants: TenantStore;
  jobs: JobStore;
}

interface Part {
  name: string;
  query: FindQuery;
  read(found: Found): unknown;
  /** Whether an old answer may stand in: only a positive one. Nothing is guessed from "none". */
  mayStandIn(value: unknown): boolean;
  /** What storage's answer becomes before it is remembered and shared (once per lookup). */
  settle?(value: unknown, scope: RequestScope | undefined): unknown;
}

const keyPart = (hash: string, settle: Part["settle"]): Part => ({
  name: `key/${hash}`,
  query: { keyHash: hash },
  read: (found) => found.key ?? null,
  mayStandIn: (value) => value !== null,
  settle,
});
const tokenPart = (tenantId: string, keyId: string): Part => ({
  name: `token/${tenantId}/${keyId}`,
  query: { token: { tenantId, keyId } },
  read: (found) => found.token ?? { tenant: null, keyLive: false },
  mayStandIn: (value) => {
    const token = value as NonNullable<Found["token"]>;
    return token.tenant !== null && token.keyLive;
  },
});
const ownerPart = (jobId: string): Part => ({
  name: `owner/${jobId}`,
  query: { jobId },
  read: (found) => found.owner ?? null,
  mayStandIn: (value) => value !== null,
});

/** Concurrent identical lookups of one directory share one round trip; beyond this, their own. */
const SHARED_FIND_MAX_WAIT_MS = STORAGE_TIMEOUT_MS + 500;
let directories = 0;

export function createDirectory(options: {
  tenants: TenantStore;
  jobs: JobStore;
  shared?: SharedLookups;
  now?: () => number;
}): Directory {
  const { tenants, jobs, shared } = options;
  const directoryId = ++directories;
  const now = options.now ?? (() => Date.now());
  // Kept past their freshness, as stand-ins for an outage; "nothing there" apart, so that
  // made-up ids cannot evict what real callers use.
  const found = createMemo<Stamped<unknown>>({
    ttlMs: STALE_LIMIT_MS,
    maxEntries: MAX_ENTRIES,
    now,
  });
  const nothing = createMemo<Stamped<null>>({ ttlMs: MEMO_TTL_MS, maxEntries: MAX_ENTRIES, now });
  // Answers from lookups that started before this isolate changed tenancy are not fresh here.
  let changedAt = Number.NEGATIVE_INFINITY;
  let keyCheck: Stamped<KeyCheck> | undefined;
  // When this isolate last wrote each key's lastUsedAt (bounded like the memo).
  const keyUseWritten = createMemo<number>({
    ttlMs: KEY_USE_WRITE_MS,
    maxEntries: MAX_ENTRIES,
    now,
  });

  /**
   * Notes a use of a key storage just gave, in the background, when what storage holds is an
   * hour old; the answer then says so, so that neighbours that share it do not write it again.
   */
  const noteKeyUse: Part["settle"] = (value, scope) => {
    const key = value as LiveKey | null;
    const at = now();
    if (!key || !scope || hasExpired(key.expiresAt, at)) return key;
    const stored = key.lastUsedAt === null ? Number.NEGATIVE_INFINITY : Date.parse(key.lastUsedAt);
    if (at - stored < KEY_USE_WRITE_MS || keyUseWritten.get(key.keyId) !== undefined) return key;
    keyUseWritten.set(key.keyId, at);
    const lastUsedAt = new Date(at).toISOString();
    // Best effort: a failed write only leaves lastUsedAt older until the key's next use.
    scope.waitUntil(tenants.recordKeyUse(key.keyId, lastUsedAt).catch(() => {}));
    return { ...key, lastUsedAt };
  };

  const isFresh = (entry: Stamped<unknown>) =>
    entry.loadedAt > changedAt && now() - entry.loadedAt < MEMO_TTL_MS;
  const remembered = (name: string) => found.get(name) ?? nothing.get(name);
  const remember = (name: string, entry: Stamped<unknown>) => {
    if (entry.value === null) {
      found.delete(name);
      nothing.set(name, entry as Stamped<null>);
    } else {
      nothing.delete(name);
      found.set(name, entry);
    }
  };
  const sharedGet = async (name: string) => {
    if (!shared) return undefined;
    try {
      return await withTimeout(shared.get(name), SHARED_READ_TIMEOUT_MS);
    } catch {
      return undefined;
    }
  };
  const forget = async (names: string[]) => {
    for (const name of names) {
      found.delete(name);
      nothing.delete(name);
    }
    if (shared) await Promise.all(names.map((name) => shared.delete(name).catch(() => {})));
  };

  /**
   * The parts' answers: fresh ones from this isolate or location, the rest from storage in one
   * round trip (with the key check riding along when `withKeyCheck`).
   */
  async function lookup(
    parts: Part[],
    scope: RequestScope | undefined,
    { allowStale = false, withKeyCheck = false } = {},
  ): Promise<{ values: unknown[]; stale: boolean; keyCheck?: KeyCheck }> {
    const startedAt = now();
    const slots = parts.map((part) => {
      const entry = remembered(part.name);
      const fresh = entry !== undefined && isFresh(entry);
      return { part, value: fresh ? entry.value : undefined, done: fresh, standIn: entry };
    });
    const values = () => slots.map((slot) => slot.value);
    let missing = slots.filter((slot) => !slot.done);
    if (missing.length > 0 && shared) {
      const entries = await Promise.all(missing.map((slot) => sharedGet(slot.part.name)));
      missing.forEach((slot, at) => {
        const entry = entries[at];
        if (!entry) return;
        if (isFresh(entry)) {
          Object.assign(slot, { value: entry.value, done: true });
          remember(slot.part.name, entry);
        } else if ((slot.standIn?.loadedAt ?? 0) < entry.loadedAt) slot.standIn = entry;
      });
      missing = missing.filter((slot) => !slot.done);
    }
    if (missing.length === 0) return { values: values(), stale: false };

    const query: FindQuery = Object.assign(
      withKeyCheck ? { keyCheck: true } : {},
      ...missing.map((slot) => slot.part.query),
    );
    let answer: Found;
    try {
      answer = await coalesce(
        `find:${directoryId}:${JSON.stringify(query)}`,
        () => tenants.find(query),
        SHARED_FIND_MAX_WAIT_MS,
      );
    } catch (err) {
      const usable = missing.every(
        (slot) =>
          slot.standIn !== undefined &&
          slot.part.mayStandIn(slot.standIn.value) &&
          startedAt - slot.standIn.loadedAt <= STALE_LIMIT_MS,
      );
      if (!allowStale || !(err instanceof StorageUnavailableError) || !usable) throw err;
      for (const slot of missing) slot.value = slot.standIn?.value;
      return { values: values(), stale: true };
    }
    for (const slot of missing) {
      const read = slot.part.read(answer);
      const entry = {
        value: slot.part.settle ? slot.part.settle(read, scope) : read,
        loadedAt: startedAt,
      };
      slot.value = entry.value;
      remember(slot.part.name, entry);
      if (shared && scope) scope.waitUntil(shared.put(slot.part.name, entry).catch(() => {}));
    }
    if (answer.keyCheck) keyCheck = { value: answer.keyCheck, loadedAt: startedAt };
    return { values: values(), stale: false, keyCheck: answer.keyCheck };
  }

  const owner: Directory["owner"] = async (jobId, scope, options = {}) => {
    const result = await lookup([ownerPart(jobId)], scope, options);
    return { value: result.values[0] as OwnedJob | null, stale: result.stale };
  };
  const withOwner = (parts: Part[], jobId: string | undefined) =>
    jobId === undefined ? parts : [...parts, ownerPart(jobId)];

  return {
    async apiKey(key, scope, options = {}) {
      const hash = await hashApiKey(key);
      const parts = withOwner([keyPart(hash, noteKeyUse)], options.jobId);
      const known = remembered(`key/${hash}`);
      let withKeyCheck = false;
      if (!known || !isFresh(known)) {
        if (keyCheck) {
          if (!(await mayBeLiveKey(keyCheck.value, key, hash))) {
            const reloadDue = now() - keyCheck.loadedAt >= LEGACY_RELOAD_MS;
            // Keys made by an older version during a deploy have no tag: reload, now and then.
            if (!isLegacyKey(key) || !reloadDue) return { value: null, stale: false };
            keyCheck = { ...keyCheck, loadedAt: now() };
            withKeyCheck = true;
          }
        } else withKeyCheck = true;
      }
      // An isolate's first keys fetch the check with their own lookups: no request waits on a
      // promise of another's, which Workers may cancel with the request that made it.
      const result = await lookup(parts, scope, { allowStale: options.allowStale, withKeyCheck });
      const check = result.keyCheck;
      // The check came with this answer: a made-up key must not pass on its own say-so.
      if (check && !(await mayBeLiveKey(check, key, hash))) return { value: null, stale: false };
      const live = result.values[0] as LiveKey | null;
      // Expiry is checked now, whatever the age of the answer: an expired key stops at once.
      if (!live || hasExpired(live.expiresAt, now())) return { value: null, stale: false };
      return { value: live, stale: result.stale };
    },

    async token(tenantId, keyId, scope, options = {}) {
      const parts = withOwner([tokenPart(tenantId, keyId)], options.jobId);
      const result = await lookup(parts, scope, { allowStale: options.allowStale });
      const found = result.values[0] as NonNullable<Found["token"]>;
      // The minting key's expiry ends its tokens too, checked now like the key's own.
      const keyLive = found.keyLive && !hasExpired(found.keyExpiresAt ?? null, now());
      return { value: { tenant: found.tenant, keyLive }, stale: result.stale };
    },

    owner,

    tenants: {
      ...tenants,
      async updateTenant(id, patch, audit) {
        const updated = await tenants.updateTenant(id, patch, audit);
        // Key answers embed their tenant: none from before this change is fresh here any more.
        changedAt = now();
        return updated;
      },
      async revokeKey(tenantId, keyId, audit) {
        const revoked = await tenants.revokeKey(tenantId, keyId, audit);
        changedAt = now();
        // This location's shared copies go at once; every isolate's own within MEMO_TTL_MS.
        if (revoked) await forget([`key/${revoked.hash}`, `token/${tenantId}/${keyId}`]);
        return revoked;
      },
      async rotateKey(tenantId, keyId, next, audit) {
        const rotated = await tenants.rotateKey(tenantId, keyId, next, audit);
        changedAt = now();
        // The old key's new expiry holds here at once, and in this location's lookups.
        if (rotated) await forget([`key/${rotated.oldHash}`, `token/${tenantId}/${keyId}`]);
        return rotated;
      },
      async revokeTokens(tenantId, audit) {
        const updated = await tenants.revokeTokens(tenantId, audit);
        changedAt = now();
        return updated;
      },
    },

    jobs: {
      ...jobs,
      ownerOf: async (jobId) => (await owner(jobId, undefined)).value,
      // A job this isolate records, assigns or sees progress on is read afresh at once.
      async record(job, budget) {
        const result = await jobs.record(job, budget);
        await forget([`owner/${job.id}`]);
        return result;
      },
      async assign(job, audit) {
        await jobs.assign(job, audit);
        await forget([`owner/${job.id}`]);
      },
      async recordProgress(jobId, status, pages) {
        const billed = await jobs.recordProgress(jobId, status, pages);
        await forget([`owner/${jobId}`]);
        return billed;
      },
    },
  };
}
