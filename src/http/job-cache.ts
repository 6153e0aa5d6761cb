import type { MiddlewareHandler } from "hono";
import { tieredJobCache } from "../core/cache/job-cache";
import { memoryTier } from "../core/cache/memory";
import type { CacheTier } from "../core/cache/tiers";
import type { HonoEnv } from "../core/config";
import { cacheApiTier } from "../platform/cloudflare/cache-api-tier";
import { kvTier } from "../platform/cloudflare/kv-tier";

// One per isolate: every request of this isolate shares its memory tier.
const memory = memoryTier({
  maxBytes: 16 * 1024 * 1024,
  maxEntryBytes: 1024 * 1024,
  maxAgeMs: 60_000,
});
const CACHE_READ_TIMEOUT_MS = 300;

/** The job cache: this isolate's memory, then this location's Cache API, then KV (global). */
export function withJobCache(): MiddlewareHandler<HonoEnv> {
  return async (c, next) => {
    const tiers: CacheTier[] = [memory, cacheApiTier(caches.default, c.get("log"))];
    // Without a KV namespace bound the proxy still works, with one tier less.
    if (c.env.JOB_CACHE) tiers.push(kvTier(c.env.JOB_CACHE, c.get("log")));
    c.set(
      "jobCache",
      tieredJobCache({
        tiers,
        terminalTtlMs: c.get("config").terminalCacheTtlS * 1000,
        pendingTtlMs: c.get("config").pendingCacheTtlMs,
        readTimeoutMs: CACHE_READ_TIMEOUT_MS,
        log: c.get("log"),
        waitUntil: (promise) => c.executionCtx.waitUntil(promise),
      }),
    );
    await next();
  };
}
