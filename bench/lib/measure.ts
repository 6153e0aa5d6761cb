/**
 * Measuring: each run is one target under load, with the fake's calls and the Worker's process CPU
 * counted over exactly that run. Targets are interleaved round by round so drift hits all of them.
 */
import type { DenoTargetName } from "./deno";
import { upstreamCallsSince } from "./fixtures";
import { type LatencySummary, type LoadRun, runLoad, summarise } from "./load";
import { type CpuRole, type CpuTimes, cpuOf, type WorkerProcess } from "./processes";

export type TargetName =
  | "floor"
  | "upstream"
  | "naive"
  | "naive-cache"
  | "hit"
  | "hit-no-metrics"
  | "miss"
  | "token"
  | DenoTargetName;

export interface Target {
  name: TargetName;
  title: string;
  origin: string;
  /** One per connection (round-robin). */
  paths: string[];
  headers: Record<string, string>;
  /** The runtime process serving it; none for the fake upstream itself. */
  worker: WorkerProcess | undefined;
  /**
   * The jobs whose upstream calls count for it (calls still in flight from the run before must
   * not); none: every call during the run counts.
   */
  jobIds?: readonly string[];
}

export interface Sample {
  run: LoadRun;
  upstreamCalls: number;
  /** CPU seconds each role burnt during the run. */
  cpu: CpuTimes | undefined;
}

export interface Context {
  fakeOrigin: string;
  connections: number;
  timeoutS: number;
  /** Time for the fake to receive calls still in flight when a run stops. */
  settleMs: number;
}

export async function measure(
  ctx: Context,
  target: Pick<Target, "origin" | "paths" | "headers" | "worker" | "jobIds">,
  durationS: number,
  options: { connections?: number } = {},
): Promise<Sample> {
  const cpuBefore = target.worker && cpuOf(target.worker);
  const since = Date.now();
  const run = await runLoad({
    origin: target.origin,
    paths: target.paths,
    headers: target.headers,
    connections: options.connections ?? ctx.connections,
    durationS,
    timeoutS: ctx.timeoutS,
  });
  const cpuAfter = target.worker && cpuOf(target.worker);
  await new Promise((resolve) => setTimeout(resolve, ctx.settleMs));
  const upstreamCalls = await upstreamCallsSince(ctx.fakeOrigin, since, target.jobIds);
  return { run, upstreamCalls, cpu: cpuBefore && cpuAfter && cpuDelta(cpuBefore, cpuAfter) };
}

function cpuDelta(before: CpuTimes, after: CpuTimes): CpuTimes {
  const roles: CpuRole[] = ["runtime", "entry", "host"];
  return Object.fromEntries(roles.map((role) => [role, after[role] - before[role]])) as CpuTimes;
}

export interface Aggregate {
  requests: number;
  durationS: number;
  reqPerSec: number;
  latencyMs: LatencySummary;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  upstreamCalls: number;
  upstreamCallsPerRequest: number;
  /** Process CPU per request, in microseconds, by role; null for the fake upstream. */
  cpuUsPerRequest: CpuTimes | null;
  bytesPerSec: number;
  rounds: { reqPerSec: number; p50: number; p99: number; upstreamCalls: number }[];
}

export function aggregate(samples: Sample[]): Aggregate {
  const requests = sum(samples.map((s) => s.run.requests));
  const durationS = sum(samples.map((s) => s.run.durationS));
  const upstreamCalls = sum(samples.map((s) => s.upstreamCalls));
  const statusCodes: Record<string, number> = {};
  for (const { run } of samples) {
    for (const [code, count] of Object.entries(run.statusCodes)) {
      statusCodes[code] = (statusCodes[code] ?? 0) + count;
    }
  }
  return {
    requests,
    durationS,
    reqPerSec: durationS ? requests / durationS : 0,
    latencyMs: summarise(samples.map((s) => s.run.latenciesMs)),
    errors: sum(samples.map((s) => s.run.errors)),
    timeouts: sum(samples.map((s) => s.run.timeouts)),
    non2xx: sum(samples.map((s) => s.run.non2xx)),
    statusCodes,
    upstreamCalls,
    upstreamCallsPerRequest: requests ? upstreamCalls / requests : 0,
    cpuUsPerRequest: cpuPerRequest(samples, requests),
    bytesPerSec: durationS ? sum(samples.map((s) => s.run.bytes)) / durationS : 0,
    rounds: samples.map((s) => {
      const latency = summarise([s.run.latenciesMs]);
      return {
        reqPerSec: s.run.durationS ? s.run.requests / s.run.durationS : 0,
        p50: latency.p50,
        p99: latency.p99,
        upstreamCalls: s.upstreamCalls,
      };
    }),
  };
}

function cpuPerRequest(samples: Sample[], requests: number): CpuTimes | null {
  if (!requests || samples.some((s) => !s.cpu)) return null;
  const per = (role: CpuRole) => (sum(samples.map((s) => s.cpu?.[role] ?? 0)) / requests) * 1e6;
  return { runtime: per("runtime"), entry: per("entry"), host: per("host") };
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
