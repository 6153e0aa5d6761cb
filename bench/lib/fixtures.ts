/**
 * What the targets read: jobs created on the fake Waveline, given to the demo tenant through the
 * proxy's admin API, and a browser token minted with the demo API key. Every call is bounded.
 */
import { DEV_API_KEY, DEV_TENANT_ID } from "../../dev/seed";

const CALL_TIMEOUT_MS = 15_000;

export interface FakeJobSpec {
  /** The fake picks a UUID when none is given. */
  id?: string;
  status: "RUNNING" | "COMPLETED";
  /** Size of the job's `result` JSON. */
  resultBytes?: number;
}

async function call(url: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  if (!response.ok) {
    throw new Error(`${init.method ?? "GET"} ${url}: ${response.status} ${await response.text()}`);
  }
  return response;
}

const jsonInit = (method: string, body: unknown, token?: string): RequestInit => ({
  method,
  headers: {
    "Content-Type": "application/json",
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
  },
  body: JSON.stringify(body),
});

/** A job on the fake that keeps its status until patched; returns its id. */
export async function createFakeJob(fakeOrigin: string, spec: FakeJobSpec): Promise<string> {
  const response = await call(`${fakeOrigin}/__control/jobs`, jsonInit("POST", spec));
  const { id } = (await response.json()) as { id: string };
  return id;
}

/** The proxy serves a job only to its owner: the demo tenant gets it. */
export async function giveToDemoTenant(proxyUrl: string, adminToken: string, jobId: string) {
  const url = `${proxyUrl}/admin/jobs/${encodeURIComponent(jobId)}/owner`;
  await call(url, jsonInit("PUT", { tenantId: DEV_TENANT_ID }, adminToken));
}

/** `count` jobs with ids `${idPrefix}${i}`, given to the demo tenant on each proxy. */
export async function createOwnedJobs(
  fakeOrigin: string,
  owners: { proxyUrl: string; adminToken: string }[],
  spec: FakeJobSpec & { idPrefix: string },
  count: number,
): Promise<string[]> {
  const { idPrefix, ...job } = spec;
  const ids = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      createFakeJob(fakeOrigin, { ...job, id: `${idPrefix}${i}` }),
    ),
  );
  for (const owner of owners) {
    await Promise.all(ids.map((id) => giveToDemoTenant(owner.proxyUrl, owner.adminToken, id)));
  }
  return ids;
}

/**
 * The demo tenant's read limit, raised far above what this machine can serve: the limiter's
 * lease path still runs on every read, but never refuses one.
 */
export const BENCH_READS_PER_MINUTE = 60_000_000;

export async function raiseReadLimit(proxyUrl: string, adminToken: string): Promise<void> {
  const url = `${proxyUrl}/admin/tenants/${DEV_TENANT_ID}`;
  const body = { rateLimits: { readsPerMinute: BENCH_READS_PER_MINUTE } };
  await call(url, jsonInit("PATCH", body, adminToken));
}

/** A read-only browser token for the demo tenant. */
export async function mintBrowserToken(proxyUrl: string): Promise<string> {
  const response = await call(
    `${proxyUrl}/tokens`,
    jsonInit("POST", { scopes: ["jobs:read"] }, DEV_API_KEY),
  );
  const { token } = (await response.json()) as { token: string };
  return token;
}

export interface Probe {
  status: number;
  xCache: string | null;
  id: unknown;
  bytes: number;
}

/** One request as a client would make it: what came back, briefly. */
export async function probe(url: string, headers: Record<string, string>): Promise<Probe> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  const text = await response.text();
  let id: unknown;
  try {
    id = (JSON.parse(text) as { id?: unknown }).id;
  } catch {
    id = undefined;
  }
  return {
    status: response.status,
    xCache: response.headers.get("X-Cache"),
    id,
    bytes: text.length,
  };
}

/**
 * Probes until the answer is a cache hit (a first read fills the cache, the slower tiers after
 * the response), at most `attempts` times, 100 ms apart: the last probe, hit or not.
 */
export async function probeUntilHit(
  url: string,
  headers: Record<string, string>,
  attempts = 20,
): Promise<Probe> {
  let last = await probe(url, headers);
  for (let i = 0; i < attempts && !last.xCache?.startsWith("HIT"); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await probe(url, headers);
  }
  return last;
}

interface RecordedCall {
  path: string;
  at: number;
}

/** Calls the fake received at or after `since` (ms epoch), optionally only those for some jobs. */
export async function upstreamCallsSince(
  fakeOrigin: string,
  since: number,
  jobIds?: readonly string[],
): Promise<number> {
  // The fake filters by substring: the ids' common prefix keeps the answer small.
  const match = jobIds?.length ? commonPrefix(jobIds) : "";
  const response = await call(`${fakeOrigin}/__control/calls?match=${encodeURIComponent(match)}`);
  const { calls } = (await response.json()) as { calls: RecordedCall[] };
  return calls.filter(
    (recorded) =>
      recorded.at >= since && (!jobIds || jobIds.some((id) => recorded.path.endsWith(`/${id}`))),
  ).length;
}

function commonPrefix(values: readonly string[]): string {
  let prefix = values[0] ?? "";
  for (const value of values) {
    while (!value.startsWith(prefix)) prefix = prefix.slice(0, -1);
  }
  return prefix;
}
