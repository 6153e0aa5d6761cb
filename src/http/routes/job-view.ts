import type { Context } from "hono";
import { basePath } from "hono/route";
import { type CachedJob, etagOf, isTerminal, renderJob } from "../../core/cache/entry";
import { type JobSource, type Reader, readJobFor } from "../../core/jobs/read";
import type { Services } from "../../core/services";
import type { AppEnv } from "../context";

/** Answers of a job, as `GET /jobs/{id}` (and the admin's) give them; built once per app. */
export function jobAnswers(services: Services) {
  // When polling again is worth it: fresher answers than this interval are not served anyway.
  const retryAfter = String(Math.max(1, Math.ceil(services.config.pendingCacheTtlMs / 1000)));

  /** The job as `reader` may read it (one call into the core), as a response with its `X-Cache`. */
  async function serveJob<E extends AppEnv>(
    c: Context<E>,
    reader: Reader,
    id: string,
  ): Promise<Response> {
    const { entry, source } = await readJobFor(services, reader, id, c.var.scope);
    const bypassCache = "operator" in reader && reader.bypassCache;
    return jobResponse(c, entry, xCacheOf(source, { bypassCache }));
  }

  function jobResponse<E extends AppEnv>(
    c: Context<E>,
    entry: CachedJob,
    xCache: string,
  ): Response {
    c.var.log.annotate({ cache: xCache });
    const self = proxyJobUrl(c, entry.id);
    if (isTerminal(entry)) {
      const etag = etagOf(entry, self);
      // Kept by a browser but never reused unasked: each reuse is a conditional request that the
      // proxy authorises first (then a cheap 304), so one profile cannot show a user another's job.
      const headers = { "X-Cache": xCache, ETag: etag, "Cache-Control": "private, no-cache" };
      if (matchesEtag(c.req.header("If-None-Match"), etag)) return c.body(null, 304, headers);
      return c.body(renderJob(entry, self), 200, {
        ...headers,
        "Content-Type": "application/json",
      });
    }
    return c.body(renderJob(entry, self), 200, {
      "X-Cache": xCache,
      "Cache-Control": "no-store",
      "Retry-After": retryAfter,
      "Content-Type": "application/json",
    });
  }

  return { serveJob, jobResponse };
}

/** The `X-Cache` header of an answer from `source`. */
export function xCacheOf(source: JobSource, options: { bypassCache?: boolean } = {}): string {
  if (source !== "fresh") return `HIT; tier=${source}`;
  return options.bypassCache ? "BYPASS" : "MISS";
}

/** RFC 9110 If-None-Match: `*`, or a list of tags compared weakly. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

/** The job as Waveline sent it, but `urls.get` points back at this proxy, so pollers stay on it. */
export function throughProxy<T extends { id: string; urls?: object }>(
  c: Context,
  job: T,
): T & { urls: { get: string } } {
  return { ...job, urls: { ...job.urls, get: proxyJobUrl(c, job.id) } };
}

/** This proxy's URL for a job, under the same mount (`/` or `/api/v1`) the caller used. */
export function proxyJobUrl(c: Context, id: string): string {
  const mount = basePath(c).replace(/\/$/, "");
  return `${new URL(c.req.url).origin}${mount}/jobs/${encodeURIComponent(id)}`;
}
