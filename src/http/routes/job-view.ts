import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { basePath } from "hono/route";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type CachedJob, etagOf, isTerminal, renderJob, toCachedJob } from "../../core/cache/entry";
import { coalesce } from "../../core/coalesce";
import type { HonoEnv } from "../../core/config";
import { withTimeout } from "../../core/timeout";
import type { WatchedJob } from "../../platform/cloudflare/job-watcher";
import { describeError, fail } from "../errors";

/**
 * Answers a job the caller may read (authorisation happened before: the cache is keyed by job id
 * alone), from the fastest cache tier that has it, else from Waveline with concurrent callers
 * sharing one upstream call.
 */
export async function serveJob(
  c: Context<HonoEnv>,
  id: string,
  options: LookupOptions = {},
): Promise<Response> {
  const { entry, xCache } = await lookupJob(c, id, options);
  return jobResponse(c, entry, xCache);
}

interface LookupOptions {
  bypassCache?: boolean;
  /** The status the proxy last recorded: a job last seen pending skips tiers that cannot have it. */
  lastSeen?: Pick<CachedJob, "status">;
  onFetched?: (entry: CachedJob) => void;
}

/** The job from the fastest place that has it fresh, and where that was (`X-Cache`). */
export async function lookupJob(
  c: Context<HonoEnv>,
  id: string,
  options: LookupOptions = {},
): Promise<{ entry: CachedJob; xCache: string }> {
  const jobCache = c.get("jobCache");
  // This isolate's own copy costs no I/O: nothing to share with other readers.
  const local = options.bypassCache ? null : await jobCache.readLocal(id, options.lastSeen);
  if (local) {
    const xCache = `HIT; tier=${local.tier}`;
    c.get("log").annotate({ cache: xCache });
    return { entry: local.entry, xCache };
  }

  const lookup = async (): Promise<{ entry: CachedJob; xCache: string }> => {
    const hit = options.bypassCache ? null : await jobCache.read(id, options.lastSeen);
    if (hit) return { entry: hit.entry, xCache: `HIT; tier=${hit.tier}` };
    const fetched = await fetchFresh(c, id, options);
    await jobCache.write(fetched);
    options.onFetched?.(fetched);
    return { entry: fetched, xCache: options.bypassCache ? "BYPASS" : "MISS" };
  };
  // Readers of one job share the whole lookup, cache reads included: a poller that read the
  // cache just before another's upstream answer landed must not call upstream again.
  const maxWaitMs = c.get("config").upstreamTimeoutMs + 1000;
  const key = `${options.bypassCache ? "bypass" : "read"}:${id}`;
  const result = await coalesce(key, lookup, maxWaitMs);
  c.get("log").annotate({ cache: result.xCache });
  return result;
}

/**
 * A fresh answer. A job last seen running is asked of its watcher, the one poller of that job
 * everywhere; if the watcher cannot be reached in time, Waveline is asked directly.
 */
async function fetchFresh(
  c: Context<HonoEnv>,
  id: string,
  options: LookupOptions,
): Promise<CachedJob> {
  const watchers = c.env.JOB_WATCHER;
  if (!options.bypassCache && options.lastSeen && !isTerminal(options.lastSeen) && watchers) {
    const { pendingCacheTtlMs, upstreamTimeoutMs } = c.get("config");
    try {
      const answer = await withTimeout(
        watchers.get(watchers.idFromName(id)).read(id, pendingCacheTtlMs) as Promise<WatchedJob>,
        upstreamTimeoutMs + WATCHER_GRACE_MS,
      );
      c.get("log").annotate({ watcher: true });
      if (answer.ok) return answer.entry;
      fail(
        answer.status as ContentfulStatusCode,
        answer.error,
        answer.retryAfter ? { "Retry-After": answer.retryAfter } : undefined,
      );
    } catch (err) {
      if (err instanceof HTTPException) throw err;
      c.get("log").warn("job watcher unavailable: asking upstream directly", {
        jobId: id,
        error: describeError(err),
      });
    }
  }
  return toCachedJob(await c.get("waveline").getJob(id));
}

/** The watcher's own upstream call may take UPSTREAM_TIMEOUT_MS; this much more, and it is down. */
const WATCHER_GRACE_MS = 1_000;

export function jobResponse(c: Context<HonoEnv>, entry: CachedJob, xCache: string): Response {
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
