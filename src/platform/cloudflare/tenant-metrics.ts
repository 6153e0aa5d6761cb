import type { Logger } from "../../core/log";
import { type MetricsRecorder, metricsRecorder, NO_METRICS } from "../../core/metrics/recorder";
import type { MetricsReader } from "../../core/metrics/store";
import type { Tally } from "../../core/metrics/tally";
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

/**
 * For Durable Objects (the settler, a job's watcher, an outbox), whose work is not requests and
 * which may be evicted at any time: counts sent at once, one call per tenant named.
 */
export async function recordFromObject(
  namespace: MetricsNamespace | undefined,
  counts: readonly { tenantId: string; sub?: string | null; tally: Tally }[],
  log: Logger,
): Promise<void> {
  if (!namespace || counts.length === 0) return;
  const of = metricsObjects(namespace);
  const recorder = metricsRecorder({
    sink: (tenantId, batch) => of(tenantId).add(batch),
    flushDelayMs: 0,
    log,
  });
  for (const { tenantId, sub, tally } of counts) {
    recorder.record(tenantId, sub ?? undefined, tally, () => {});
  }
  await recorder.flushAll();
}

const metricsObjects = (namespace: MetricsNamespace) =>
  objectCalls(namespace, "tenant metrics", OBJECT_DEADLINES_MS.metrics);
