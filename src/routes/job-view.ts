import type { Context } from "hono";
import { basePath } from "hono/route";
import { coalesce } from "../cache/coalesce";
import { type CachedJob, etagOf, isTerminal, renderJob, toCachedJob } from "../cache/entry";
import type { HonoEnv } from "../env";

/**
 * Answers a job the caller may read (authorisation happened before: the cache is keyed by job id
 * alone), from the fastest cache tier that has it, else from Waveline with concurrent callers
 * sharing one upstream call.
 */
export async function serveJob(
  c: Context<HonoEnv>,
  id: string,
  options: {
    bypassCache?: boolean;
    /** The status the proxy last recorded: a job last seen pending skips tiers that cannot have it. */
    lastSeen?: Pick<CachedJob, "status">;
    onFetched?: (entry: CachedJob) => void;
  } = {},
): Promise<Response> {
  const jobCache = c.get("jobCache");
  // This isolate's own copy costs no I/O: nothing to share with other readers.
  const local = options.bypassCache ? null : await jobCache.readLocal(id, options.lastSeen);
  if (local) {
    const xCache = `HIT; tier=${local.tier}`;
    c.get("log").annotate({ cache: xCache });
    return jobResponse(c, local.entry, xCache);
  }

  const waveline = c.get("waveline");
  const lookup = async (): Promise<{ entry: CachedJob; xCache: string }> => {
    const hit = options.bypassCache ? null : await jobCache.read(id, options.lastSeen);
    if (hit) return { entry: hit.entry, xCache: `HIT; tier=${hit.tier}` };
    const fetched = await toCachedJob(await waveline.getJob(id));
    await jobCache.write(fetched);
    options.onFetched?.(fetched);
    return { entry: fetched, xCache: options.bypassCache ? "BYPASS" : "MISS" };
  };
  // Readers of one job share the whole lookup, cache reads included: a poller that read the
  // cache just before another's upstream answer landed must not call upstream again.
  const maxWaitMs = c.get("config").upstreamTimeoutMs + 1000;
  const key = `${options.bypassCache ? "bypass" : "read"}:${id}`;
  const { entry, xCache } = await coalesce(key, lookup, maxWaitMs);
  c.get("log").annotate({ cache: xCache });
  return jobResponse(c, entry, xCache);
}

function jobResponse(c: Context<HonoEnv>, entry: CachedJob, xCache: string): Response {
  const self = proxyJobUrl(c, entry.id);
  const headers: Record<string, string> = { "X-Cache": xCache };
  if (isTerminal(entry)) {
    const etag = etagOf(entry, self);
    headers.ETag = etag;
    // Kept by a browser but never reused unasked: each reuse is a conditional request that the
    // proxy authorises first (then a cheap 304), so one profile cannot show a user another's job.
    headers["Cache-Control"] = "private, no-cache";
    if (matchesEtag(c.req.header("If-None-Match"), etag)) return c.body(null, 304, headers);
  } else {
    headers["Cache-Control"] = "no-store";
    // When polling again is worth it: fresher answers than this interval are not served anyway.
    headers["Retry-After"] = String(
      Math.max(1, Math.ceil(c.get("config").pendingCacheTtlMs / 1000)),
    );
  }
  headers["Content-Type"] = "application/json";
  return c.body(renderJob(entry, self), 200, headers);
}

/** RFC 9110 If-None-Match: `*`, or a list of tags compared weakly. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

/** The job as Waveline sent it, but `urls.get` points back at this proxy, so pollers stay on it. */
export function throughProxy<T extends { id: string; urls?: object }>(
  c: Context<HonoEnv>,
  job: T,
): T & { urls: { get: string } } {
  return { ...job, urls: { ...job.urls, get: proxyJobUrl(c, job.id) } };
}

/** This proxy's URL for a job, under the same mount (`/` or `/api/v1`) the caller used. */
export function proxyJobUrl(c: Context<HonoEnv>, id: string): string {
  const mount = basePath(c).replace(/\/$/, "");
  return `${new URL(c.req.url).origin}${mount}/jobs/${encodeURIComponent(id)}`;
}
