/**
 * The eight targets and the jobs they read. Upstream, naive and miss read the same running jobs,
 * one per connection, so no two connections share a job (the proxy coalesces concurrent reads of
 * one job, which would turn misses into cheaper waits). Hit, token and the naive caching proxy
 * read one finished job.
 */
import { DEV_API_KEY, DEV_ORIGINS } from "../../dev/seed";
import { createOwnedJobs, mintBrowserToken, probeUntilHit, raiseReadLimit } from "./fixtures";
import type { Target } from "./measure";
import { ADMIN_TOKEN, type BenchStack, WAVELINE_KEY } from "./stack";

export const SIZES = [
  { label: "1 KiB", bytes: 1024 },
  { label: "100 KiB", bytes: 100 * 1024 },
  { label: "5 MiB", bytes: 5 * 1024 * 1024 },
];
/** The floor's constant job (bench/floor/index.ts). */
const FLOOR_JOB_ID = "00000000-0000-4000-8000-00000000f100";

export interface Jobs {
  /** RUNNING, one per connection: what upstream, naive and miss read. */
  runningIds: string[];
  /** COMPLETED with a 1 KiB result: what hit, token and the naive caching proxy read. */
  hitId: string;
  /** COMPLETED, one per entry of SIZES. */
  sizeIds: string[];
  /** RUNNING, one per poller count. */
  pollIds: string[];
}

export async function prepareTargets(
  stack: BenchStack,
  options: { connections: number; pollers: readonly number[] },
): Promise<{ jobs: Jobs; targets: Target[] }> {
  const [jobs, token] = await Promise.all([
    createJobs(stack, options),
    mintBrowserToken(stack.proxy.url),
    raiseReadLimit(stack.proxy.url, ADMIN_TOKEN),
    raiseReadLimit(stack.proxyNoPending.url, ADMIN_TOKEN),
    raiseReadLimit(stack.proxyNoMetrics.url, ADMIN_TOKEN),
  ]);
  const targets = defineTargets(stack, jobs, token);
  await fillNaiveCache(targets);
  return { jobs, targets };
}

/** Its first read of the hit job is a miss that writes KV after answering: wait for a hit. */
async function fillNaiveCache(targets: Target[]): Promise<void> {
  const target = targets.find((t) => t.name === "naive-cache");
  if (!target) return;
  const { xCache } = await probeUntilHit(`${target.origin}${target.paths[0]}`, target.headers);
  if (xCache !== "HIT") throw new Error(`naive caching proxy: X-Cache ${xCache} after filling`);
}

async function createJobs(
  stack: BenchStack,
  options: { connections: number; pollers: readonly number[] },
): Promise<Jobs> {
  const fake = stack.fake.origin;
  const proxy = [{ proxyUrl: stack.proxy.url, adminToken: ADMIN_TOKEN }];
  const noPending = [{ proxyUrl: stack.proxyNoPending.url, adminToken: ADMIN_TOKEN }];
  // The hit job is read through the proxy with its metrics and the one without.
  const hitOwners = [...proxy, { proxyUrl: stack.proxyNoMetrics.url, adminToken: ADMIN_TOKEN }];
  // Ids with a prefix per group, so the fake's call log can be asked about one group at a time.
  const tag = `bench-${crypto.randomUUID().slice(0, 8)}`;
  const completed = (idPrefix: string, bytes: number, owners = proxy) =>
    createOwnedJobs(fake, owners, { idPrefix, status: "COMPLETED", resultBytes: bytes }, 1);
  const running = (idPrefix: string, owners: typeof proxy, count: number) =>
    createOwnedJobs(fake, owners, { idPrefix, status: "RUNNING" }, count);
  const [runningIds, [hitId], pollIds, ...sizes] = await Promise.all([
    running(`${tag}-running-`, noPending, options.connections),
    completed(`${tag}-hit-`, 1024, hitOwners),
    running(`${tag}-poll-`, proxy, options.pollers.length),
    ...SIZES.map((size, index) => completed(`${tag}-size${index}-`, size.bytes)),
  ]);
  if (!hitId) throw new Error("no job for the hit target");
  return { runningIds, hitId, pollIds, sizeIds: sizes.map(([id]) => id ?? "") };
}

function defineTargets(stack: BenchStack, jobs: Jobs, token: string): Target[] {
  const jobPaths = (prefix: string, ids: string[]) => ids.map((id) => `${prefix}/jobs/${id}`);
  const apiKey = { Authorization: `Bearer ${DEV_API_KEY}` };
  return [
    {
      name: "floor",
      title: "floor (bare Worker)",
      origin: stack.floor.url,
      paths: [`/jobs/${FLOOR_JOB_ID}`],
      headers: {},
      worker: stack.floor,
    },
    {
      name: "upstream",
      title: "upstream (fake Waveline)",
      origin: stack.fake.origin,
      paths: jobPaths("/api/v1", jobs.runningIds),
      headers: { Authorization: `Bearer ${WAVELINE_KEY}` },
      worker: undefined,
      jobIds: jobs.runningIds,
    },
    {
      name: "naive",
      title: "naive proxy",
      origin: stack.naive.url,
      paths: jobPaths("", jobs.runningIds),
      headers: {},
      worker: stack.naive,
      jobIds: jobs.runningIds,
    },
    {
      // The same header as the hit's: its one static token is the demo tenant's key.
      name: "naive-cache",
      title: "naive caching proxy, hit",
      origin: stack.naiveCache.url,
      paths: jobPaths("", [jobs.hitId]),
      headers: apiKey,
      worker: stack.naiveCache,
      jobIds: [jobs.hitId],
    },
    {
      name: "hit",
      title: "proxy, cache hit",
      origin: stack.proxy.url,
      paths: jobPaths("", [jobs.hitId]),
      headers: apiKey,
      worker: stack.proxy,
      jobIds: [jobs.hitId],
    },
    {
      // The same hit, from the same bundle with METRICS_ENABLED=false: what counting costs.
      name: "hit-no-metrics",
      title: "proxy, cache hit, metrics off",
      origin: stack.proxyNoMetrics.url,
      paths: jobPaths("", [jobs.hitId]),
      headers: apiKey,
      worker: stack.proxyNoMetrics,
      jobIds: [jobs.hitId],
    },
    {
      name: "miss",
      title: "proxy, cache miss",
      origin: stack.proxyNoPending.url,
      paths: jobPaths("", jobs.runningIds),
      headers: apiKey,
      worker: stack.proxyNoPending,
      jobIds: jobs.runningIds,
    },
    {
      // A browser sends its Origin: the tenant's CORS list is checked too, as in production.
      name: "token",
      title: "proxy, browser token, hit",
      origin: stack.proxy.url,
      paths: jobPaths("", [jobs.hitId]),
      headers: { Authorization: `Bearer ${token}`, Origin: DEV_ORIGINS[0] ?? "" },
      worker: stack.proxy,
      jobIds: [jobs.hitId],
    },
  ];
}
