import { TERMINAL_STATUSES } from "../../waveline/schema";
import { type CachedJob, renderJob } from "../cache/entry";
import type { UpstreamFailure } from "../errors";
import type { EndUserShare } from "../ratelimit/share";

/** One `event: job` of a stream: the job as `GET /jobs/{id}` answers it, `urls.get` on the proxy. */
export function jobEvent(entry: CachedJob, self: string): string {
  return `id: ${entry.status}.${entry.pages}\nevent: job\ndata: ${renderJob(entry, self)}\n\n`;
}

/**
 * Whether a reconnect's `Last-Event-ID` (an event's `id:`, `STATUS.pages`) says the client has
 * seen the job finish: nothing more will come, so it is told to stop (204) instead of served again.
 */
export function sawTerminalEvent(lastEventId: string | undefined): boolean {
  const status = lastEventId?.split(".")[0];
  return status !== undefined && (TERMINAL_STATUSES as ReadonlySet<string>).has(status);
}

/** A stream ends after this, with a `retry:` hint: the client reconnects and gets the state. */
export const STREAM_LIFETIME_MS = 5 * 60_000;

/** What a watcher answers a reader: the job, or the upstream's trouble. */
export type WatchedJob = (
  | { ok: true; entry: CachedJob }
  | { ok: false; failure: UpstreamFailure | "unavailable"; error: string; retryAfterS?: number }
) & {
  /** This answer cost an upstream call of its own (not a poll shared, nor a kept answer). */
  polled?: boolean;
};

/**
 * The one poller of each running job, wherever its readers are (a Durable Object per job on
 * Workers). Calls may throw or hang: callers then ask Waveline themselves.
 */
export interface JobWatchers {
  /** The job, from the watcher's last answer while younger than `maxAgeMs`, else fresh. */
  read(jobId: string, maxAgeMs: number): Promise<WatchedJob>;
  /** A Server-Sent Events stream of the job; `self` is its URL on the proxy for the events. */
  subscribe(jobId: string, self: string): Promise<ReadableStream<Uint8Array>>;
}

/** Each tenant's open streams, counted where every isolate sees them. */
export interface StreamLeases {
  /**
   * A lease id, or null when the tenant has `limit` streams open, or the end user `share.limit`.
   * Lapses after `leaseMs`.
   */
  open(
    tenantId: string,
    limit: number,
    leaseMs: number,
    share?: EndUserShare,
  ): Promise<string | null>;
  close(tenantId: string, leaseId: string): Promise<void>;
  /** The tenant's streams open now (leases not closed nor lapsed). */
  count(tenantId: string): Promise<number>;
}
