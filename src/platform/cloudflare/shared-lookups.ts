import { type SharedLookups, STALE_LIMIT_MS, type Stamped } from "../../core/tenancy/directory";

/** Never fetched: it only names entries in this location's cache. */
const ORIGIN = "https://lookups.waveline-proxy.internal";

/**
 * The directory's lookups shared by the isolates of one Cloudflare location, in the Cache API
 * (free, and local to the location). Entries carry when storage gave them, so freshness is the
 * directory's to judge; the cache only keeps them as long as they can stand in for an outage.
 */
export function cacheApiLookups(cache: Cache): SharedLookups {
  const url = (name: string) => `${ORIGIN}/${encodeURIComponent(name)}`;
  return {
    async get(name) {
      const response = await cache.match(url(name));
      return response ? ((await response.json()) as Stamped<unknown>) : undefined;
    },
    async put(name, entry) {
      await cache.put(
        url(name),
        new Response(JSON.stringify(entry), {
          headers: {
            "Content-Type": "application/json",
            "Cache-Control": `max-age=${STALE_LIMIT_MS / 1000}`,
          },
        }),
      );
    },
    async delete(name) {
      await cache.delete(url(name));
    },
  };
}
