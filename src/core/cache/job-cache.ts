import type { Config } from "../config";
import { describeError } from "../errors";
import type { RequestScope } from "../log";
import { withTimeout } from "../timeout";
import { type CachedJob, isTerminal } from "./entry";
import { memoryTier } from "./memory";
import type { CacheTier } from "./tiers";

export type CacheTierName = CacheTier["name"];

export interface JobCacheOptions {
  /** Fastest first: a hit in one tier refills the tiers before it. */
  tiers: CacheTier[];
  terminalTtlMs: number;
  /** How long a CREATED/RUNNING answer may be reused; 0 never reuses one. */
  pendingTtlMs: number;
  /** A tier slower than this counts as a miss (KV can stall). */
  readTimeoutMs: number;
}

export interface JobCache {
  /**
   * `lastSeen`: the status the proxy last recorded for the job. A job last seen CREATED or
   * RUNNING is looked for only where a pending answer can be (a job that finished since is then
   * fetched once more, which is right, only slower).
   */
  read(
    id: string,
    lastSeen: Pick<CachedJob, "status"> | undefined,
    scope: RequestScope,
  ): Promise<{ entry: CachedJob; tier: CacheTierName } | null>;
  /** This isolate's own copy (local tiers), if any: no I/O, so no need to coalesce it. */
  readLocal(
    id: string,
    lastSeen?: Pick<CachedJob, "status">,
  ): Promise<{ entry: CachedJob; tier: CacheTierName } | null>;
  /** Stores a fresh answer: this isolate's memory at once, slower tiers after the response. */
  write(entry: CachedJob, scope: RequestScope): Promise<void>;
  /** Removes a job from every tier this code can reach (memory here, this location, KV). */
  purge(id: string): Promise<void>;
}

/**
 * Terminal jobs never change: cached until the TTL (which only bounds storage). One per isolate:
 * the calling request lends its scope for logging and for writes that finish after the answer.
 */
export function tieredJobCache(options: JobCacheOptions): JobCache {
  const { tiers } = options;

  const ttlLeft = (entry: CachedJob) =>
    isTerminal(entry)
      ? options.terminalTtlMs
      : options.pendingTtlMs - (Date.now() - entry.fetchedAt);

  const putInto = (tier: CacheTier, entry: CachedJob, scope: RequestScope) => {
    const ttlMs = ttlLeft(entry);
    if (ttlMs <= 0 || !tier.keeps(entry)) return Promise.resolve();
    return tier.put(entry, ttlMs).catch((err: unknown) => {
      scope.log.warn("cache write failed", {
        tier: tier.name,
        jobId: entry.id,
        error: describeError(err),
      });
    });
  };

  const fill = async (targets: CacheTier[], entry: CachedJob, scope: RequestScope) => {
    for (const tier of targets) {
      const write = putInto(tier, entry, scope);
      // Local tiers are filled before the answer goes back, so this isolate's next poll hits them.
      if (tier.local) await write;
      else scope.waitUntil(write);
    }
  };

  const worthReading = (tier: CacheTier, lastSeen: Pick<CachedJob, "status"> | undefined) =>
    lastSeen === undefined ||
    isTerminal(lastSeen) ||
    (tier.keepsPending && options.pendingTtlMs > 0);

  return {
    async readLocal(id, lastSeen) {
      for (const tier of tiers) {
        if (!tier.local || !worthReading(tier, lastSeen)) continue;
        const entry = await tier.get(id);
        if (entry && ttlLeft(entry) > 0) return { entry, tier: tier.name };
      }
      return null;
    },
    async read(id, lastSeen, scope) {
      for (const [index, tier] of tiers.entries()) {
        if (!worthReading(tier, lastSeen)) continue;
        let entry: CachedJob | null;
        try {
          entry = tier.local
            ? await tier.get(id)
            : await withTimeout(tier.get(id), options.readTimeoutMs);
        } catch (err) {
          // Fail open: a broken tier is a miss, never a failed request.
          scope.log.warn("cache read failed", {
            tier: tier.name,
            jobId: id,
            error: describeError(err),
          });
          continue;
        }
        if (!entry || ttlLeft(entry) <= 0) continue;
        await fill(tiers.slice(0, index), entry, scope);
        return { entry, tier: tier.name };
      }
      return null;
    },
    write: (entry, scope) => fill(tiers, entry, scope),
    async purge(id) {
      await Promise.all(tiers.map((tier) => tier.delete(id)));
    },
  };
}

/** A shared tier that does not answer in this long is skipped for the read (the cache fails open). */
const SHARED_TIER_READ_TIMEOUT_MS = 300;

/** The memory tier of an isolate (of a process, on Deno): every request of it shares this one. */
export function isolateMemoryTier(): CacheTier {
  return memoryTier({ maxBytes: 16 * 1024 * 1024, maxEntryBytes: 1024 * 1024, maxAgeMs: 60_000 });
}

/** The job cache as both runtimes build it: `memory`, then the runtime's shared tiers in order. */
export function jobCacheFor(config: Config, memory: CacheTier, shared: CacheTier[]): JobCache {
  return tieredJobCache({
    tiers: [memory, ...shared],
    terminalTtlMs: config.terminalCacheTtlS * 1000,
    pendingTtlMs: config.pendingCacheTtlMs,
    readTimeoutMs: SHARED_TIER_READ_TIMEOUT_MS,
  });
}
