/**
 * The Deno targets: the proxy on Deno (src/platform/deno) beside a bare `Deno.serve` floor
 * (bench/deno-floor), measured in the same interleaved rounds as the Workers targets, and their
 * ratios. Deno's figures are judged against Deno's floor, never against workerd's.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DENO_RUN, DENO_SERVER, denoBinary } from "../../dev/deno";
import { DEV_API_KEY, DEV_ORIGINS } from "../../dev/seed";
import { prepareDenoDatabase } from "../../dev/stack";
import { giveToDemoTenant, mintBrowserToken, raiseReadLimit } from "./fixtures";
import type { Target } from "./measure";
import {
  claimPort,
  spawnManaged,
  stopManaged,
  type WorkerProcess,
  waitForHttp,
  withPortRetries,
} from "./processes";
import type { Results, TargetResult } from "./report";
import { ADMIN_TOKEN, type BenchStack, dirIn } from "./stack";
import type { Jobs } from "./targets";

export type DenoTargetName = "deno-floor" | "deno-hit" | "deno-miss" | "deno-token";

const FLOOR_JOB_ID = "00000000-0000-4000-8000-00000000f100";

async function startDeno(
  name: string,
  args: (port: number) => string[],
  readyPath: string,
  ready: (response: Response) => boolean,
): Promise<WorkerProcess> {
  return withPortRetries(async () => {
    const port = await claimPort();
    const managed = spawnManaged(name, args(port), {}, denoBinary());
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(managed, `${url}${readyPath}`, ready);
    } catch (err) {
      await stopManaged(managed);
      throw new Error(`${(err as Error).message}\n${managed.output()}`);
    }
    return { ...managed, url, port, runtime: "deno", inspectorPort: 0 };
  });
}

/**
 * Starts the Deno floor and one Deno proxy (the bench's vars, PENDING_CACHE_TTL_MS=0, so a read
 * of a running job is a miss while a finished one is a hit), gives it the Workers targets' jobs,
 * and answers its four targets.
 */
export async function prepareDenoTargets(
  workDir: string,
  stack: BenchStack,
  jobs: Jobs,
): Promise<Target[]> {
  const dataDir = dirIn(workDir, "state-deno");
  const envFile = join(workDir, "deno.vars");
  writeFileSync(envFile, `${readFileSync(stack.envFile, "utf8")}PENDING_CACHE_TTL_MS=0\n`);
  await prepareDenoDatabase(dataDir);
  const [floor, proxy] = await Promise.all([
    startDeno(
      "deno-floor",
      (port) => ["run", "--allow-net", "bench/deno-floor/server.ts", "--port", String(port)],
      "/jobs/x",
      (response) => response.ok,
    ),
    startDeno(
      "deno-proxy",
      (port) => [
        ...DENO_RUN,
        DENO_SERVER,
        "--port",
        String(port),
        "--env-file",
        envFile,
        "--data",
        dataDir,
      ],
      "/health",
      (response) => response.headers.has("X-Request-Id"),
    ),
  ]);
  await raiseReadLimit(proxy.url, ADMIN_TOKEN);
  for (const id of [jobs.hitId, ...jobs.runningIds]) {
    await giveToDemoTenant(proxy.url, ADMIN_TOKEN, id);
  }
  const token = await mintBrowserToken(proxy.url);
  const jobPaths = (ids: string[]) => ids.map((id) => `/jobs/${id}`);
  return [
    {
      name: "deno-floor",
      title: "Deno floor (bare Deno.serve)",
      origin: floor.url,
      paths: [`/jobs/${FLOOR_JOB_ID}`],
      headers: {},
      worker: floor,
    },
    {
      name: "deno-hit",
      title: "Deno proxy, cache hit",
      origin: proxy.url,
      paths: jobPaths([jobs.hitId]),
      headers: { Authorization: `Bearer ${DEV_API_KEY}` },
      worker: proxy,
      jobIds: [jobs.hitId],
    },
    {
      name: "deno-miss",
      title: "Deno proxy, cache miss",
      origin: proxy.url,
      paths: jobPaths(jobs.runningIds),
      headers: { Authorization: `Bearer ${DEV_API_KEY}` },
      worker: proxy,
      jobIds: jobs.runningIds,
    },
    {
      name: "deno-token",
      title: "Deno proxy, browser token, hit",
      origin: proxy.url,
      paths: jobPaths([jobs.hitId]),
      headers: { Authorization: `Bearer ${token}`, Origin: DEV_ORIGINS[0] ?? "" },
      worker: proxy,
      jobIds: [jobs.hitId],
    },
  ];
}

/** Deno's ratios, each against its own floor, beside the Workers ones. */
export function denoRatios(results: Pick<Results, "targets">) {
  const byName = (name: string) => results.targets.find((t) => t.name === name);
  const over = (a: TargetResult | undefined, b: TargetResult | undefined) =>
    a && b?.reqPerSec ? a.reqPerSec / b.reqPerSec : null;
  const cpuAbove = (a: TargetResult | undefined, b: TargetResult | undefined) =>
    a?.cpuUsPerRequest && b?.cpuUsPerRequest
      ? a.cpuUsPerRequest.runtime - b.cpuUsPerRequest.runtime
      : null;
  const [floor, hit, miss, token] = ["deno-floor", "deno-hit", "deno-miss", "deno-token"].map(
    byName,
  );
  const workersHit = byName("hit");
  const workersMiss = byName("miss");
  return {
    hitOverFloor: over(hit, floor),
    tokenOverFloor: over(token, floor),
    missP50MinusWorkersMissP50Ms:
      miss && workersMiss ? miss.latencyMs.p50 - workersMiss.latencyMs.p50 : null,
    hitCpuAboveFloorUs: cpuAbove(hit, floor),
    hitOverWorkersHit: over(hit, workersHit),
  };
}

/** The "Deno" section of RESULTS.md; empty when the run had no Deno targets. */
export function renderDenoSection(results: Pick<Results, "targets">): string {
  if (!results.targets.some((t) => t.name === "deno-floor")) return "";
  const r = denoRatios(results);
  const x = (value: number | null) => (value === null ? "–" : `${value.toFixed(2)}×`);
  const us = (value: number | null) => (value === null ? "–" : `${Math.round(value)} µs`);
  const msCell = (value: number | null) => (value === null ? "–" : `${value.toFixed(2)} ms`);
  return `
## Deno

The same proxy code on Deno (\`npm run start:deno\`: one process, its stores, finished jobs and
actors over node:sqlite), against a bare \`Deno.serve\` returning the floor's constant job, in the same
interleaved rounds as the Workers targets above (rows "Deno …"). Its memory tier answers hits;
there is no Cache API tier on Deno.

| measure | value |
| --- | --- |
| Deno hit req/s ÷ Deno floor req/s | ${x(r.hitOverFloor)} |
| Deno browser-token hit req/s ÷ Deno floor req/s | ${x(r.tokenOverFloor)} |
| Deno hit runtime CPU above the Deno floor's, per request | ${us(r.hitCpuAboveFloorUs)} |
| Deno miss p50 − Workers miss p50 | ${msCell(r.missP50MinusWorkersMissP50Ms)} |
| Deno hit req/s ÷ Workers hit req/s (different runtimes, same machine) | ${x(r.hitOverWorkersHit)} |
`;
}
