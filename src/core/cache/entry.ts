import type { Job, JobStatus } from "../../waveline/schema";
import { TERMINAL_STATUSES } from "../../waveline/schema";

/**
 * A job as every cache tier stores it: the JSON Waveline sent, with the one thing that differs per
 * reader (`urls.get`, the proxy's own URL) cut out, so a hit is served by splicing a string
 * instead of parsing and re-serialising a result that may be megabytes.
 */
export interface CachedJob {
  id: string;
  status: JobStatus;
  pages: number;
  /** The job's JSON without the value of `urls.get`. */
  body: string;
  /** Where in `body` the JSON string of `urls.get` goes. */
  selfAt: number;
  /** Hash of `body`: the strong ETag's stem. Empty for CREATED/RUNNING jobs, which get no ETag. */
  digest: string;
  /** When the proxy fetched it from Waveline (ms epoch). */
  fetchedAt: number;
}

export function isTerminal(entry: Pick<CachedJob, "status">): boolean {
  return TERMINAL_STATUSES.has(entry.status);
}

export async function toCachedJob(job: Job, fetchedAt = Date.now()): Promise<CachedJob> {
  // A random marker cannot occur in the job, so it splits the JSON in exactly two.
  const marker = `self-${crypto.randomUUID()}`;
  const json = JSON.stringify({ ...job, urls: { ...job.urls, get: marker } });
  const selfAt = json.indexOf(`"${marker}"`);
  const body = json.slice(0, selfAt) + json.slice(selfAt + marker.length + 2);
  return {
    id: job.id,
    status: job.status,
    pages: job.pages,
    body,
    selfAt,
    digest: TERMINAL_STATUSES.has(job.status) ? await digestOf(body) : "",
    fetchedAt,
  };
}

/** The job's JSON with `urls.get` pointing at the proxy URL the caller used. */
export function renderJob(entry: CachedJob, selfUrl: string): string {
  return (
    entry.body.slice(0, entry.selfAt) + JSON.stringify(selfUrl) + entry.body.slice(entry.selfAt)
  );
}

/** Strong ETag: the same bytes give the same tag, and each `urls.get` variant its own. */
export function etagOf(entry: CachedJob, selfUrl: string): string {
  return `"${entry.digest}.${fnv1a(selfUrl)}"`;
}

async function digestOf(text: string): Promise<string> {
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return btoa(String.fromCharCode(...hash.subarray(0, 16)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(36);
}
