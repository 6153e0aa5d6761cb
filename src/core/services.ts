import type { WavelineClient } from "../waveline/client";
import type { AuditLog } from "./audit/log";
import type { JobCache } from "./cache/job-cache";
import type { Config } from "./config";
import type { Ledgers } from "./creation/idempotency";
import type { Settlement } from "./creation/settlement";
import type { Logger } from "./log";
import type { MetricsRecorder } from "./metrics/recorder";
import type { MetricsReader } from "./metrics/store";
import type { RateLimiter } from "./ratelimit/limiter";
import type { Directory } from "./tenancy/directory";
import type { JobStore, TenantStore } from "./tenancy/store";
import type { SigningKey } from "./tenancy/tokens";
import type { RequestTraces } from "./traces";
import type { JobWatchers, StreamLeases } from "./watching/events";
import type { WebhookOutboxes } from "./webhooks/outbox";

/**
 * Everything the proxy's requests use that lives as long as the isolate: built once by a
 * runtime's entry (`platform/<runtime>/`) from its bindings, then handed to `createApp`.
 * Per-request parts (the logger, `waitUntil`) are passed to each call as a `RequestScope`.
 */
export interface Services {
  config: Config;
  /** Messages of no particular request (a tier's self-check, a watcher's poll). */
  log: Logger;
  /** Who callers are and who owns which job, as requests look them up (memoised, shared). */
  directory: Directory;
  /** The directory's stores: their writes make the directory forget what they change. */
  tenants: TenantStore;
  jobs: JobStore;
  /** Administrative changes: listed, and written for changes kept outside D1. */
  audit: AuditLog;
  jobCache: JobCache;
  /** Undefined without WAVELINE_API_KEY: routes that call Waveline then answer 503. */
  waveline: WavelineClient | undefined;
  rateLimiter: RateLimiter;
  streamLeases: StreamLeases;
  ledgers: Ledgers;
  /** Learns every created job's final status and pages; undefined where the runtime has none. */
  settlement: Settlement | undefined;
  /** Undefined where the runtime has none: running jobs are then read from Waveline directly. */
  watchers: JobWatchers | undefined;
  /** Each tenant's webhook endpoints and deliveries; undefined where the runtime has none. */
  webhooks: WebhookOutboxes | undefined;
  /** This isolate's per-tenant counters, flushed in the background (a no-op when metrics are off). */
  metrics: MetricsRecorder;
  /** Each tenant's metrics over time; undefined when metrics are off or the runtime has none. */
  metricsReader: MetricsReader | undefined;
  /** Browser-token keys, imported once (signer first); undefined when none are configured. */
  signingKeys: Promise<SigningKey[]> | undefined;
  /** Counts one failed authentication of `client`; false once it is over its limit. */
  countAuthFailure(client: string): Promise<boolean>;
  /** Compares secrets in time that depends on neither. */
  secretsEqual(given: string, expected: string): Promise<boolean>;
  /** The runtime's span of each request, annotated once it is answered (a no-op without one). */
  traces: RequestTraces;
  /** A file of the static pages (`public/`), or null; undefined where none are served. */
  page?(path: string): Promise<Response | null>;
}
