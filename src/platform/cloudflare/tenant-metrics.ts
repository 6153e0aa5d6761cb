import type { Logger } from "../../core/log";
import {
  type MetricsRecorder,
  metricsRecorder,
  NO_METRICS,
  recordAtOnce,
  type TenantTallies,
} from "../../core/metrics/recorder";
import type { MetricsReader } from "../../core/metrics/store";
import { OBJECT_DEADLINES_MS, objectCalls } from "./object-call";

type MetricsNamespace = NonNullable<Env["TENANT_METRICS"]>;

export function durableMetricsReader(namespace: MetricsNamespace): MetricsReader {
  const of = metricsObjects(namespace);
  return { series: (tenantId, query) => of(tenantId).series(query) };
}

/** An isolate's recorder into `namespace` (built once with the services); none without it. */
export function metricsRecorderFor(
  namespace: MetricsNamespace | undefined,
  flushDelayMs: number,
  log: Logger,
): MetricsRecorder {
  if (!namespace) return NO_METRICS;
  const of = metricsObjects(namespace);
  return metricsRecorder({
    sink: (tenantId, batch) => of(tenantId).add(batch),
    flushDelayMs,
    log,
  });
}

/** For Durable Objects (the settler, a job's watcher, an outbox): counts sent at once. */
export async function recordFromObject(
  namespace: MetricsNamespace | undefined,
  counts: TenantTallies,
  log: Logger,
): Promise<void> {
  if (!namespace) return;
  const of = metricsObjects(namespace);
  await recordAtOnce((tenantId, batch) => of(tenantId).add(batch), counts, log);
}

const metricsObjects = (namespace: MetricsNamespace) =>
  objectCalls(namespace, "tenant metrics", OBJECT_DEADLINES_MS.metrics);
