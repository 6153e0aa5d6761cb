import type { WavelineClient } from "../../waveline/client";
import { type CachedJob, isTerminal, toCachedJob } from "../cache/entry";
import type { CacheTierName, JobCache } from "../cache/job-cache";
import { coalesce } from "../coalesce";
import type { Config } from "../config";
import {
  describeError,
  JobNotFoundError,
  ServiceUnavailableError,
  StorageUnavailableError,
  UpstreamError,
} from "../errors";
import type { RequestScope } from "../log";
import type { MetricsRecorder } from "../metrics/recorder";
import { billedTallies } from "../metrics/tally";
import { mayReadJob, type Principal } from "../tenancy/access";
import type { Directory } from "../tenancy/directory";
import type { JobStore, OwnedJob } from "../tenancy/store";
import { withTimeout } from "../timeout";
import { type JobWatchers, sawTerminalEvent } from "../watching/events";

/** The ports a read takes: the owner's lookup, the cache tiers, the watchers and Waveline. */
export interface ReadServices {
  config: Pick<Config, "upstreamTimeoutMs" | "pendingCacheTtlMs">;
  directory: Pick<Directory, "owner">;
  jobCache: JobCache;
  waveline: Pick<WavelineClient, "getJob"> | undefined;
  watchers: Pick<JobWatchers, "read"> | undefined;
  /** Where a fresh answer's progress is recorded (after the answer), and its pages counted. */
  jobs: Pick<JobStore, "recordProgress">;
  metrics: Pick<MetricsRecorder, "record">;
}

/** An operator reads any job, no owner asked; `bypassCache` asks Waveline and refreshes the cache. */
export interface Operator {
  operator: true;
  bypassCache: boolean;
}

/** Who reads: a tenant's principal (its own jobs only), or an operator (any job). */
export type Reader = Principal | Operator;

export interface ReadForOptions {
  /** The client's `Last-Event-ID`: one naming the job's terminal event is answered `seenEnd`. */
  lastEventId?: string;
}

/** The job, and where it came from (`fresh` also when an operator bypassed the cache). */
export interface JobRead {
  entry: CachedJob;
  source: JobSource;
}

/** The caller may read the job and has seen its last event already: nothing was read. */
export interface SeenEnd {
  seenEnd: true;
}

/**
 * "This reader reads this job", the one way in for a request. A principal's job is authorised
 * first, before any cache tier (the cache is keyed by job id alone: a hit must never answer a
 * caller a miss would refuse); a job of another tenant, end user or token answers exactly as no
 * such job (`JobNotFoundError`). A stale principal (storage down) gets a cached finished job or
 * `StorageUnavailableError`, never an upstream call. Then the fastest place that has the job
 * fresh, else its watcher or Waveline, concurrent readers sharing one call.
 */
export function readJobFor(
  services: ReadServices,
  reader: Reader,
  id: string,
  scope: RequestScope,
): Promise<JobRead>;
export function readJobFor(
  services: ReadServices,
  reader: Reader,
  id: string,
  scope: RequestScope,
  options: ReadForOptions,
): Promise<JobRead | SeenEnd>;
export async function readJobFor(
  services: ReadServices,
  reader: Reader,
  id: string,
  scope: RequestScope,
  options: ReadForOptions = {},
): Promise<JobRead | SeenEnd> {
  if ("operator" in reader)
    return readJob(services, id, scope, { bypassCache: reader.bypassCache });
  const owner = await callersJob(services, reader, id, scope);
  // The client has the job's last event (and may know it is there): nothing more to read.
  if (sawTerminalEvent(options.lastEventId)) return { seenEnd: true };
  if (reader.stale) return readJob(services, id, scope, { cachedFinishedOnly: true });
  return readJob(services, id, scope, { lastSeen: owner });
}

/** The job's record, if the caller may read it; otherwise the same error as for no such job. */
async function callersJob(
  services: Pick<ReadServices, "directory">,
  principal: Principal,
  id: string,
  scope: RequestScope,
): Promise<OwnedJob> {
  const { value: owner } = await services.directory.owner(id, scope, {
    allowStale: principal.stale,
  });
  if (!owner || !mayReadJob(principal, id, owner)) throw new JobNotFoundError();
  return owner;
}

interface ReadOptions {
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
async function readJob(
  services: ReadServices,
  id: string,
  scope: RequestScope,
  options: ReadOptions = {},
): Promise<JobRead> {
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
  const lookup = async (): Promise<JobRead> => {
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
  services: ReadServices,
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
  services: Pick<ReadServices, "jobs" | "metrics">,
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
