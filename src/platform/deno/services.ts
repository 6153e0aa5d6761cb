import { createHash, timingSafeEqual } from "node:crypto";
import type { DatabaseSync } from "node:sqlite";
import { isolateMemoryTier, jobCacheFor } from "../../core/cache/job-cache.ts";
import type { Config } from "../../core/config.ts";
import { type CreationLedger, creationLedger } from "../../core/creation/ledger.ts";
import { carryOverSettlerTables, jobSettler, SETTLER_NAME } from "../../core/creation/settler.ts";
import { watcherDeadlineMs } from "../../core/jobs/read.ts";
import { isolateLog } from "../../core/log.ts";
import { tenantMetrics } from "../../core/metrics/actor.ts";
import {
  metricsRecorder,
  NO_METRICS,
  recordAtOnce,
  type TenantTallies,
} from "../../core/metrics/recorder.ts";
import { type ActorCalls, OBJECT_DEADLINES_MS } from "../../core/objects.ts";
import { leasedRateLimiter, RATE_LIMITER_DEFAULTS } from "../../core/ratelimit/limiter.ts";
import { type TenantLimiter, tenantLimiter } from "../../core/ratelimit/tenant-limiter.ts";
import type { Services } from "../../core/services.ts";
import { createDirectory } from "../../core/tenancy/directory.ts";
import { guardStorage } from "../../core/tenancy/guard.ts";
import { importSigningKeys } from "../../core/tenancy/tokens.ts";
import { type JobWatcher, jobWatcher } from "../../core/watching/watcher.ts";
import { WebhookOutboxActor } from "../../core/webhooks/outbox-actor.ts";
import { wavelineClientFor } from "../../waveline/client.ts";
import { budgetAlertsTo, resendBudgetAlerts } from "../sql/budget-alerts.ts";
import { sqlAuditLog, sqlJobStore, sqlTenantStore } from "../sql/stores.ts";
import type { ActorHost } from "./actors.ts";
import { directoryPages } from "./assets.ts";
import { sqliteTier } from "./cache-tier.ts";
import { fixedWindowLimiter } from "./rate-limit.ts";
import { sqliteDatabase } from "./sql-database.ts";
import { activeSpanTraces } from "./traces.ts";
import type { WebhookEgress } from "./webhook-egress.ts";
import type { WranglerConfig } from "./wrangler-config.ts";

/** What the process opened for the services: its databases, its actors, its outside world. */
export interface DenoParts {
  /** The proxy's database (`<data>/d1.sqlite`), migrated. */
  db: DatabaseSync;
  /** Finished jobs (`<data>/kv.sqlite`). */
  cacheDb: DatabaseSync;
  host: ActorHost;
  egress: WebhookEgress;
  /** wrangler.toml, read once: the failed-authentication limit and the static pages. */
  wrangler: WranglerConfig;
}

/**
 * The proxy's services on Deno, built once per process: the core's stores over SQLite, its
 * actors in the process's host (one per kind and key, as Durable Objects are on Workers), the
 * same cache, limiter and webhook rules as the Worker's. The counterpart of
 * src/platform/cloudflare/services.ts, built from the same core parts.
 */
export function denoServices(
  config: Config,
  parts: DenoParts,
): { services: Services; actors: DenoActors; close(): void } {
  const { host, egress, wrangler } = parts;
  const log = isolateLog();
  const sql = sqliteDatabase(parts.db);
  const finishedJobs = sqliteTier(parts.cacheDb, { log });
  const waveline = wavelineClientFor(config);
  const retention = { auditRetentionDays: config.auditRetentionDays };

  const metrics = config.metricsEnabled
    ? host.kind(
        "TenantMetrics",
        ({ sql: own }) => tenantMetrics({ sql: own }),
        OBJECT_DEADLINES_MS.metrics,
      )
    : undefined;
  const recordTallies = (counts: TenantTallies) =>
    metrics
      ? recordAtOnce((tenantId, batch) => metrics(tenantId).add(batch), counts, log)
      : Promise.resolve();

  // The outboxes and the watchers call each other: their types are written out.
  const outboxes: Actors<WebhookOutboxActor> = host.kind(
    "WebhookOutbox",
    ({ sql: own, storage, name }) =>
      new WebhookOutboxActor({
        sql: own,
        alarm: storage,
        name,
        services: {
          tenants: guardStorage(tenants, "tenants"),
          retryDelaysS: config.webhookRetryDelaysS,
          // Only to the public addresses a name resolves to (./webhook-egress.ts).
          deliver: (url, request) => egress.deliver(url, request, config.webhooksAllowLocalUrls),
          watchJob: (jobId, self) => watchers(jobId, OBJECT_DEADLINES_MS.watch).watch(jobId, self),
          recordTallies,
          log: isolateLog,
        },
      }),
    OBJECT_DEADLINES_MS.outbox,
  );
  const alerts = budgetAlertsTo(
    sql,
    (tenantId) => outboxes(tenantId, OBJECT_DEADLINES_MS.alert),
    isolateLog,
  );
  const jobs = sqlJobStore(sql, undefined, { ...retention, alerts });
  const tenants = sqlTenantStore(sql, undefined, retention);

  const settler = host.kind(
    "JobSettler",
    ({ storage, sql: own }) => {
      const settler = jobSettler({
        storage,
        services: {
          waveline,
          // Bounded in time by the settler itself.
          jobs,
          resendAlerts: () => resendBudgetAlerts(sql, alerts),
          recordTallies,
          log: isolateLog,
        },
      });
      // Counts an older settler kept in SQL tables, carried over before its first call or alarm.
      const ready = carryOverSettlerTables(own, storage);
      return {
        wake: () => ready.then(settler.wake),
        alarm: () => ready.then(settler.alarm),
      };
    },
    OBJECT_DEADLINES_MS.settler,
  );
  const ledgers = host.kind(
    "CreationLedger",
    ({ sql: own, storage }) =>
      creationLedger({
        sql: own,
        alarm: storage,
        services: {
          jobs: guardStorage(jobs, "jobs"),
          wakeSettler: () => settler(SETTLER_NAME).wake(),
          log,
        },
      }),
    OBJECT_DEADLINES_MS.ledger,
  );
  const watchers: Actors<JobWatcher> = host.kind(
    "JobWatcher",
    ({ storage }) =>
      jobWatcher({
        storage,
        services: {
          waveline,
          pendingCacheTtlMs: config.pendingCacheTtlMs,
          terminalCacheTtlMs: config.terminalCacheTtlS * 1000,
          finishedJobs,
          jobs: guardStorage(jobs, "jobs"),
          recordTallies,
          outbox: (tenantId) => outboxes(tenantId),
          log: isolateLog,
        },
      }),
    watcherDeadlineMs(config.upstreamTimeoutMs),
  );
  const limiters = host.kind(
    "TenantRateLimiter",
    ({ storage }) => tenantLimiter({ storage }),
    OBJECT_DEADLINES_MS.limiter,
  );

  const directory = createDirectory({
    tenants: guardStorage(tenants, "tenants"),
    jobs: guardStorage(jobs, "jobs"),
  });
  const authFailures = wrangler.rateLimits.find(
    (limit) => limit.binding === "AUTH_FAILURE_LIMITER",
  );
  if (!authFailures) throw new Error("wrangler.toml has no AUTH_FAILURE_LIMITER rate limit");
  const failures = fixedWindowLimiter(authFailures);
  const services: Services = {
    config,
    log,
    directory,
    tenants: directory.tenants,
    jobs: directory.jobs,
    audit: guardStorage(sqlAuditLog(sql, { retentionDays: config.auditRetentionDays }), "audit"),
    // No Cache API on Deno: the process's memory is what a location's cache adds on Workers.
    jobCache: jobCacheFor(config, isolateMemoryTier(), [finishedJobs]),
    waveline,
    rateLimiter: leasedRateLimiter({
      take: (tenantId, bucket, count, limit, partial, share) =>
        limiters(tenantId, RATE_LIMITER_DEFAULTS.timeoutMs).take(
          bucket,
          count,
          limit,
          partial,
          share,
        ),
      refund: (tenantId, bucket, limit, share) =>
        limiters(tenantId, RATE_LIMITER_DEFAULTS.timeoutMs).refund(bucket, limit, share),
    }),
    streamLeases: {
      open: (tenantId, limit, leaseMs, share) =>
        limiters(tenantId).openStream(limit, leaseMs, share),
      close: (tenantId, leaseId) => limiters(tenantId).closeStream(leaseId),
      count: (tenantId) => limiters(tenantId).openStreams(),
    },
    ledgers: { of: (tenantId) => ledgers(tenantId) },
    settlement: { wake: () => settler(SETTLER_NAME).wake() },
    watchers: {
      read: (jobId, maxAgeMs) => watchers(jobId).read(jobId, maxAgeMs),
      subscribe: (jobId, self) => watchers(jobId).subscribe(jobId, self),
    },
    webhooks: { of: (tenantId) => outboxes(tenantId) },
    metrics: metrics
      ? metricsRecorder({
          sink: (tenantId, batch) => metrics(tenantId).add(batch),
          flushDelayMs: config.metricsFlushMs,
          log,
        })
      : NO_METRICS,
    metricsReader: metrics && { series: (tenantId, query) => metrics(tenantId).series(query) },
    signingKeys: config.signingKeys && importSigningKeys(config.signingKeys),
    async countAuthFailure(client) {
      return (await failures.limit({ key: client })).success;
    },
    secretsEqual: async (given, expected) => timingSafeEqual(sha256(given), sha256(expected)),
    traces: activeSpanTraces(),
    page: directoryPages(wrangler.assetsDir),
  };
  return {
    services,
    actors: { limiters, ledgers, outboxes, watchers },
    close: () => finishedJobs.close(),
  };
}

/** The per-key actors as the services call them (the conformance suites call them so too). */
export interface DenoActors {
  limiters: Actors<TenantLimiter>;
  ledgers: Actors<CreationLedger>;
  outboxes: Actors<WebhookOutboxActor>;
  watchers: Actors<JobWatcher>;
}

type Actors<A> = (name: string, deadlineMs?: number) => ActorCalls<A>;

/** Both secrets are hashed first, so that even their lengths stay hidden. */
const sha256 = (text: string) => createHash("sha256").update(text).digest();
