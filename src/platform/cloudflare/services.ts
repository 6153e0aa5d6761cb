import { isolateMemoryTier, jobCacheFor } from "../../core/cache/job-cache";
import type { CacheTier } from "../../core/cache/tiers";
import { type Config, readConfig } from "../../core/config";
import type { LedgerServices } from "../../core/creation/ledger";
import type { SettlerServices } from "../../core/creation/settler";
import { watcherDeadlineMs } from "../../core/jobs/read";
import { isolateLog } from "../../core/log";
import type { Services } from "../../core/services";
import { createDirectory } from "../../core/tenancy/directory";
import { guardStorage } from "../../core/tenancy/guard";
import { importSigningKeys } from "../../core/tenancy/tokens";
import { NO_TRACES } from "../../core/traces";
import type { WatcherServices } from "../../core/watching/watcher";
import type { OutboxServices } from "../../core/webhooks/outbox-actor";
import { DEFAULT_RETRY_DELAYS_S } from "../../core/webhooks/schedule";
import { wavelineClientFor } from "../../waveline/client";
import { budgetAlertsTo, resendBudgetAlerts } from "../sql/budget-alerts";
import { type BudgetAlertSink, sqlAuditLog, sqlJobStore, sqlTenantStore } from "../sql/stores";
import { cacheApiTier } from "./cache-api-tier";
import { durableLedgers } from "./creation-ledger";
import { durableSettlement } from "./job-settler";
import { durableJobWatchers } from "./job-watcher";
import { kvTier } from "./kv-tier";
import { OBJECT_DEADLINES_MS, objectCalls } from "./object-call";
import { durableRateLimiter, durableStreamLeases } from "./rate-limiter";
import { cacheApiLookups } from "./shared-lookups";
import { durableMetricsReader, metricsRecorderFor, recordFromObject } from "./tenant-metrics";
import { durableOutboxes, outboxCalls } from "./webhook-outbox";

// One per isolate: every request of this isolate shares its memory tier.
const memory = isolateMemoryTier();

/**
 * The proxy's services over this Worker's bindings. Built once per `env` object (once per
 * isolate in production), never per request.
 */
export function cloudflareServices(env: Env, config: Config): Services {
  const log = isolateLog();
  const shared: CacheTier[] = [];
  // Every Workers location has one; a test's runtime may not.
  const location = (globalThis as { caches?: { default?: Cache } }).caches?.default;
  if (location) shared.push(cacheApiTier(location, log));
  // Without a KV namespace bound the proxy still works, with one tier less.
  if (env.JOB_CACHE) shared.push(kvTier(env.JOB_CACHE, log));
  const { upstreamTimeoutMs } = config;
  const metricsNamespace = config.metricsEnabled ? env.TENANT_METRICS : undefined;
  const retention = { auditRetentionDays: config.auditRetentionDays };
  const directory = createDirectory({
    tenants: guardStorage(sqlTenantStore(env.DB, undefined, retention), "tenants"),
    jobs: guardStorage(
      sqlJobStore(env.DB, undefined, {
        ...retention,
        alerts: env.WEBHOOK_OUTBOX ? budgetAlerts(env) : undefined,
      }),
      "jobs",
    ),
    shared: location && cacheApiLookups(location),
  });
  return {
    config,
    log,
    directory,
    tenants: directory.tenants,
    jobs: directory.jobs,
    audit: guardStorage(sqlAuditLog(env.DB, { retentionDays: config.auditRetentionDays }), "audit"),
    jobCache: jobCacheFor(config, memory, shared),
    waveline: wavelineClientFor(config),
    rateLimiter: durableRateLimiter(env.RATE_LIMITER),
    streamLeases: durableStreamLeases(env.RATE_LIMITER),
    ledgers: durableLedgers(env.CREATION_LEDGER),
    settlement: env.JOB_SETTLER ? durableSettlement(env.JOB_SETTLER) : undefined,
    watchers: env.JOB_WATCHER
      ? durableJobWatchers(env.JOB_WATCHER, watcherDeadlineMs(upstreamTimeoutMs))
      : undefined,
    webhooks: env.WEBHOOK_OUTBOX ? durableOutboxes(env.WEBHOOK_OUTBOX) : undefined,
    metrics: metricsRecorderFor(metricsNamespace, config.metricsFlushMs, log),
    metricsReader: metricsNamespace && durableMetricsReader(metricsNamespace),
    signingKeys: config.signingKeys && importSigningKeys(config.signingKeys),
    async countAuthFailure(client) {
      return (await env.AUTH_FAILURE_LIMITER.limit({ key: client })).success;
    },
    secretsEqual,
    // Workers traces requests itself, with no way in for the Worker (README, "Traces").
    traces: NO_TRACES,
    // Static assets, where they are bound (the benchmark runs the Worker without them).
    page: env.ASSETS
      ? async (path) => {
          const asset = await env.ASSETS.fetch(new URL(path, "https://assets.local"));
          return asset.ok ? asset : null;
        }
      : undefined,
  };
}

/** Budget alerts into the tenants' outboxes; a slow outbox leaves one to the settler's next run. */
export function budgetAlerts(env: Env): BudgetAlertSink {
  return budgetAlertsTo(
    env.DB,
    outboxCalls(env.WEBHOOK_OUTBOX, OBJECT_DEADLINES_MS.alert),
    isolateLog,
  );
}

/**
 * What a job's watcher needs, over the same bindings: built once per object (its constructor).
 * Unconfigured (settings that do not validate), it has no Waveline and answers so.
 */
export function jobWatcherServices(env: Env): WatcherServices {
  const result = readConfig(env);
  const config = result.ok ? result.config : undefined;
  const log = isolateLog();
  return {
    waveline: config && wavelineClientFor(config),
    pendingCacheTtlMs: config?.pendingCacheTtlMs ?? 0,
    terminalCacheTtlMs: (config?.terminalCacheTtlS ?? 0) * 1000,
    finishedJobs: kvTier(env.JOB_CACHE, log),
    jobs: guardStorage(sqlJobStore(env.DB, undefined, { alerts: budgetAlerts(env) }), "jobs"),
    recordTallies: (counts) => recordFromObject(env.TENANT_METRICS, counts, log),
    outbox: env.WEBHOOK_OUTBOX ? outboxCalls(env.WEBHOOK_OUTBOX) : undefined,
    log: isolateLog,
  };
}

/** What a tenant's creation ledger needs, over the same bindings: built once per object. */
export function creationLedgerServices(env: Env): LedgerServices {
  const jobs = sqlJobStore(env.DB, undefined, { alerts: budgetAlerts(env) });
  return {
    jobs: guardStorage(jobs, "jobs"),
    wakeSettler: () => durableSettlement(env.JOB_SETTLER).wake(),
    log: isolateLog(),
  };
}

/**
 * What the account's settler needs, over the same bindings: built once per object. Unconfigured
 * (settings that do not validate, or no Waveline API key), it has no Waveline and settles nothing.
 */
export function jobSettlerServices(env: Env): SettlerServices {
  const result = readConfig(env);
  const config = result.ok ? result.config : undefined;
  return {
    waveline: config && wavelineClientFor(config),
    // Bounded in time by the settler itself.
    jobs: sqlJobStore(env.DB, undefined, { alerts: budgetAlerts(env) }),
    resendAlerts: () => resendBudgetAlerts(env.DB, budgetAlerts(env)),
    recordTallies: (counts) => recordFromObject(env.TENANT_METRICS, counts, isolateLog()),
    log: isolateLog,
  };
}

/** What a tenant's webhook outbox needs, over the same bindings: built once per object. */
export function webhookOutboxServices(env: Env): OutboxServices {
  const result = readConfig(env);
  const config = result.ok ? result.config : undefined;
  const watchers = objectCalls(env.JOB_WATCHER, "job watcher", OBJECT_DEADLINES_MS.watch);
  return {
    tenants: guardStorage(sqlTenantStore(env.DB), "tenants"),
    retryDelaysS: config?.webhookRetryDelaysS ?? DEFAULT_RETRY_DELAYS_S,
    // Workers' fetch reaches no private address (Deno checks what a name resolves to itself).
    deliver: (url, request) => fetch(url, request),
    watchJob: (jobId, self) => watchers(jobId).watch(jobId, self),
    recordTallies: (counts) => recordFromObject(env.TENANT_METRICS, counts, isolateLog()),
    log: isolateLog,
  };
}

const encoder = new TextEncoder();

/**
 * Compares two secrets in time that depends on neither: both are hashed first, so even their
 * lengths stay hidden, then compared with Workers' constant-time primitive.
 */
async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}
