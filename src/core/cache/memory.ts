import type { CachedJob } from "./entry";
import type { CacheTier } from "./tiers";

/**
 * This isolate's own copies: no I/O at all on a hit. Bounded by bytes (LRU), and each entry lives
 * at most `ttlMs`, so a purge made elsewhere reaches this isolate in bounded time too.
 */
export function memoryTier(options: {
  maxBytes: number;
  maxEntryBytes: number;
  maxAgeMs: number;
}): CacheTier {
  const entries = new Map<string, { entry: CachedJob; expires: number }>();
  let bytes = 0;
  const remove = (id: string) => {
    const found = entries.get(id);
    if (!found) return;
    bytes -= found.entry.body.length;
    entries.delete(id);
  };
  return {
    name: "memory",
    local: true,
    keeps: (entry) => entry.body.length <= options.maxEntryBytes,
    keepsPending: true,
    async get(id) {
      const found = entries.get(id);
      if (!found) return null;
      if (found.expires <= Date.now()) {
        remove(id);
        return null;
      }
      // Re-insert: Map order is the LRU order, oldest first.
      entries.delete(id);
      entries.set(id, found);
      return found.entry;
    },
    async put(entry, ttlMs) {
      remove(entry.id);
      entries.set(entry.id, { entry, expires: Date.now() + Math.min(ttlMs, options.maxAgeMs) });
      bytes += entry.body.length;
      for (const id of entries.keys()) {
        if (bytes <= options.maxBytes) break;
        remove(id);
      }
    },
    async delete(id) {
      remove(id);
    },
  };
}
