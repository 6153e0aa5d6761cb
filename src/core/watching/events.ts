import type { TenantRateLimiter } from "../../platform/cloudflare/rate-limiter";
import { type CachedJob, renderJob } from "../cache/entry";
import { withTimeout } from "../timeout";

/** One `event: job` of a stream: the job as `GET /jobs/{id}` answers it, `urls.get` on the proxy. */
export function jobEvent(entry: CachedJob, self: string): string {
  return `id: ${entry.status}.${entry.pages}\nevent: job\ndata: ${renderJob(entry, self)}\n\n`;
}

export const EVENT_STREAM_HEADERS = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-store",
  // Proxies that buffer responses (nginx) would hold the events back.
  "X-Accel-Buffering": "no",
};

/** An object slower than this counts as unavailable. */
const LEASE_TIMEOUT_MS = 2_000;

/**
 * A tenant's open streams are counted by its limiter object, as leases that lapse on their own:
 * a stream whose end was never reported (an isolate that died) stops counting after `leaseMs`.
 */
export function streamLeases(
  namespace: DurableObjectNamespace<TenantRateLimiter>,
  tenantId: string,
) {
  const stub = namespace.get(namespace.idFromName(tenantId));
  return {
    open: (limit: number, leaseMs: number) =>
      withTimeout(stub.openStream(limit, leaseMs) as Promise<string | null>, LEASE_TIMEOUT_MS),
    close: (leaseId: string) =>
      withTimeout(stub.closeStream(leaseId) as Promise<void>, LEASE_TIMEOUT_MS),
  };
}
