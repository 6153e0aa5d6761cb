import type { CachedJob } from "../../core/cache/entry";
import type { CacheTier } from "../../core/cache/tiers";
import type { Logger } from "../../core/log";

/** A synthetic URL: Cache API keys must be URLs, and this one is never routed anywhere. */
const keyFor = (id: string) => `https://waveline-proxy.cache/jobs/${encodeURIComponent(id)}`;
const META = "X-Cached-Job";

// Whether the first write to a cache was kept is asked once per cache object: once per isolate.
const checked = new WeakSet<Cache>();

/**
 * The Workers Cache API: shared by every isolate of one Cloudflare location, free of charge. On a
 * `*.workers.dev` address it keeps nothing; the first write says so in the log.
 */
export function cacheApiTier(cache: Cache, log: Logger): CacheTier {
  return {
    name: "cache",
    local: false,
    keeps: () => true,
    keepsPending: true,
    async get(id) {
      const response = await cache.match(keyFor(id));
      if (!response) return null;
      const meta = JSON.parse(response.headers.get(META) ?? "null") as Omit<
        CachedJob,
        "body"
      > | null;
      if (!meta) return null;
      return { ...meta, body: await response.text() };
    },
    async put(entry, ttlMs) {
      const { body, ...meta } = entry;
      const key = keyFor(entry.id);
      await cache.put(
        key,
        new Response(body, {
          headers: {
            "Content-Type": "application/json",
            "Cache-Control": `max-age=${Math.max(1, Math.ceil(ttlMs / 1000))}`,
            [META]: asciiJson(meta),
          },
        }),
      );
      if (checked.has(cache)) return;
      checked.add(cache);
      if (!(await cache.match(key))) {
        log.warn(
          "the Cache API kept nothing (a *.workers.dev address?): serve the Worker on a route or custom domain to use this tier",
        );
      }
    },
    async delete(id) {
      await cache.delete(keyFor(id));
    },
  };
}

/** Header values are bytes: ids may be any unicode, so JSON escapes whatever is not ASCII. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
