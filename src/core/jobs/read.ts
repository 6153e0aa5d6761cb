import { type CachedJob, isTerminal, toCachedJob } from "../cache/entry";
import type { CacheTierName } from "../cache/job-cache";
import { coalesce } from "../coalesce";
import {
  describeError,
  JobNotFoundError,
  ServiceUnavailableError,
  StorageUnavailableError,
  UpstreamError,
} from "../errors";
import type { RequestScope } from "../log";
import { billedTallies } from "../metrics/tally";
import type { Services } from "../services";
import { mayReadJob, type Principal } from "../tenancy/access";
import type { OwnedJob } from "../tenancy/store";
import { withTimeout } from "../timeout";

/**
 * The job's record, if the caller may read it; otherwise the same error as for no such job. A
 * stale caller (storage down) gets a stale record too, and only ever a cached finished job.
 */
export async function callersJob(
  services: Pick<Services, "directory">,
  principal: Principal,
  id: string,
  scope: RequestScope,
): Promise<OwnedJob> {
  // Authorisation before any cache tier: a hit must never answer a caller a miss would refuse.
  const { value: owner } = await services.directory.owner(id, scope, {
    allowStale: principal.stale,
  });
  if (!owner || !mayReadJob(principal, id, owner)) throw new JobNotFoundError();
  return owner;
}

export interface ReadOptions {
  bypassCache?: boolean;
  /**
   * Storage is down and the caller known only from a stale copy: a cached finished job or
   * nothing (503), never an upstream call or a job that may have changed owner since.
   */
  cachedFinishedOnly?: boolean;
  /** What the proxy last recorded: a job last seen pending skips tiers that cannot have it. */
  lastSeen?: Pick<OwnedJob, "id" | "status" | "pages">;
}

/** Where an answer came from: a cache tier, or Waveline (`fresh`, also when the cache was bypassed). */
export type JobSource = CacheTierName | "fresh";

/**
 * The job from the fastest place that has it fresh (authorisation happened before: the cache is
 * keyed by job id alone), else from Waveline, concurrent readers sharing one upstream call. A
 * fresh answer that moved the job on is recorded for listings and usage after the answer.
 */
export async function readJob(
  services: Services,
  id: string,
  scope: RequestScope,
  options: ReadOptions = {},
): Promise<{ entry: CachedJob; source: JobSource }> {
  const { jobCache } = services;
  if (options.cachedFinishedOnly) {
    const hit = await jobCache.read(id, undefined, scope);
    if (!hit || !isTerminal(hit.entry)) {
      throw new StorageUnavailableError("storage is down: only cached finished jobs are served");
    }
    return countedHit(scope, { entry: hit.entry, source: hit.tier });
  }
  // This isolate's own copy costs no I/O: nothing to share with other readers.
  const local = options.bypassCache ? null : await jobCache.readLocal(id, options.lastSeen);
  if (local) return countedHit(scope, { entry: local.entry, source: local.tier });

  let ranHere = false;
  const lookup = async (): Promise<{ entry: CachedJob; source: JobSource }> => {
    ranHere = true;
    const hit = options.bypassCache ? null : await jobCache.read(id, options.lastSeen, scope);
    if (hit) return { entry: hit.entry, source: hit.tier };
    if (!options.bypassCache) scope.count?.("cache:miss");
    const fetched = await fetchFresh(services, id, scope, options);
    await jobCache.write(fetched, scope);
    if (options.lastSeen) recordProgress(services, options.lastSeen, fetched, scope);
    return { entry: fetched, source: "fresh" };
  };
  // Readers of one job share the whole lookup, cache reads included: a poller that read the
  // cache just before another's upstream answer landed must not call upstream again.
  const maxWaitMs = services.config.upstreamTimeoutMs + 1000;
  const key = `${options.bypassCache ? "bypass" : "read"}:${id}`;
  const answer = await coalesce(key, lookup, maxWaitMs);
  if (answer.source !== "fresh") return countedHit(scope, answer);
  // Another reader's upstream call answered this one too: a call saved.
  if (!ranHere) scope.count?.("upstreamCallsSaved");
  return answer;
}

const TIER_COUNTER = { memory: "cache:memory", cache: "cache:location", kv: "cache:kv" } as const;

/** An answer from a cache tier: a hit of that tier, and an upstream call saved. */
function countedHit<T extends { source: JobSource }>(scope: RequestScope, answer: T): T {
  if (answer.source !== "fresh") {
    scope.count?.("cacheHits");
    scope.count?.(TIER_COUNTER[answer.source]);
    scope.count?.("upstreamCallsSaved");
  }
  return answer;
}

/** The watcher's own upstream call may take UPSTREAM_TIMEOUT_MS; a second more, and it is down. */
export function watcherDeadlineMs(upstreamTimeoutMs: number): number {
  return upstreamTimeoutMs + 1_000;
}

/**
 * A fresh answer. A job last seen running is asked of its watcher, the one poller of that job
 * everywhere; if the watcher cannot be reached in time, Waveline is asked directly.
 */
async function fetchFresh(
  services: Services,
  id: string,
  scope: RequestScope,
  options: ReadOptions,
): Promise<CachedJob> {
  const { watchers, waveline, config } = services;
  if (!waveline)
    throw new ServiceUnavailableError(
      "not_configured",
      "proxy is not configured: WAVELINE_API_KEY is missing",
    );
  if (!options.bypassCache && options.lastSeen && !isTerminal(options.lastSeen) && watchers) {
    let answer: Awaited<ReturnType<typeof watchers.read>> | undefined;
    try {
      answer = await withTimeout(
        watchers.read(id, config.pendingCacheTtlMs),
        watcherDeadlineMs(config.upstreamTimeoutMs),
      );
    } catch (err) {
      scope.log.warn("job watcher unavailable: asking upstream directly", {
        jobId: id,
        error: describeError(err),
      });
    }
    if (answer) {
      scope.log.annotate({ watcher: true });
      // The watcher asked Waveline for this reader, or answered from what it had (a poll saved).
      scope.count?.(answer.polled ? "upstreamCalls" : "upstreamCallsSaved");
      if (answer.ok) return answer.entry;
      if (answer.failure === "unavailable")
        throw new ServiceUnavailableError("not_configured", answer.error);
      throw new UpstreamError(answer.failure, answer.error, { retryAfterS: answer.retryAfterS });
    }
  }
  scope.count?.("upstreamCalls");
  return toCachedJob(await waveline.getJob(id, scope.log));
}

/** What the proxy knows of the job's progress feeds listings and usage. */
function recordProgress(
  services: Services,
  known: Pick<OwnedJob, "id" | "status" | "pages">,
  fresh: CachedJob,
  scope: RequestScope,
): void {
  if (fresh.status === known.status && fresh.pages === known.pages) return;
  scope.waitUntil(
    services.jobs.recordProgress(known.id, fresh.status, fresh.pages).then(
      (billed) => {
        for (const { tenantId, sub, tally } of billedTallies(billed)) {
          services.metrics.record(tenantId, sub ?? undefined, tally, (p) => scope.waitUntil(p));
        }
      },
      (err: unknown) => {
        scope.log.warn("could not record job progress", {
          jobId: known.id,
          error: describeError(err),
        });
      },
    ),
  );
}
