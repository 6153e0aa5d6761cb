import { isTerminal } from "../../core/cache/entry";
import type { CacheTier } from "../../core/cache/tiers";
import type { Logger } from "../../core/log";
import type { JobStatus } from "../../waveline/schema";

/** KV values are capped at 25 MiB; a larger result stays in the faster tiers that keep it. */
export const KV_MAX_VALUE_BYTES = 25 * 1024 * 1024;
/** KV refuses expirations shorter than a minute. */
const KV_MIN_TTL_S = 60;

type Metadata = {
  status: JobStatus;
  pages: number;
  selfAt: number;
  digest: string;
  fetchedAt: number;
};

/** Workers KV: global and eventually consistent, which suits results that never change. */
export function kvTier(kv: KVNamespace, log: Logger): CacheTier {
  return {
    name: "kv",
    local: false,
    keepsPending: false,
    keeps(entry) {
      if (!isTerminal(entry)) return false;
      // UTF-8 takes at most 3 bytes per UTF-16 unit: only long bodies need counting.
      if (entry.body.length * 3 <= KV_MAX_VALUE_BYTES) return true;
      const bytes = new TextEncoder().encode(entry.body).length;
      if (bytes <= KV_MAX_VALUE_BYTES) return true;
      log.warn("job too large for KV: not kept there", { jobId: entry.id, bytes });
      return false;
    },
    async get(id) {
      const { value, metadata } = await kv.getWithMetadata<Metadata>(`job:${id}`, "text");
      if (value === null || !metadata) return null;
      return { id, body: value, ...metadata };
    },
    async put(entry, ttlMs) {
      const { id, body, status, pages, selfAt, digest, fetchedAt } = entry;
      await kv.put(`job:${id}`, body, {
        expirationTtl: Math.max(KV_MIN_TTL_S, Math.ceil(ttlMs / 1000)),
        metadata: { status, pages, selfAt, digest, fetchedAt } satisfies Metadata,
      });
    },
    async delete(id) {
      await kv.delete(`job:${id}`);
    },
  };
}
