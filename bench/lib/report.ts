/**
 * From samples to results: per-target figures, the issue's ratios and targets, the checks that say
 * the benchmark itself is broken, and their renderings (results.json, RESULTS.md, the console).
 */
import type { WorkerBundle } from "../../scripts/bundle";
import { BUNDLE_BUDGET_KIB } from "../../scripts/bundle";
import { renderDenoSection } from "./deno";
import type { Probe } from "./fixtures";
import type { Machine } from "./machine";
import { type Aggregate, aggregate, type Sample, type Target, type TargetName } from "./measure";
import type { BenchOptions } from "./options";
import type { CompletionRun, SharedPollerRun, SubscriberRun } from "./watching";

export interface PollerRun {
  clients: number;
  sample: Sample;
}

export interface SizeRun {
  label: string;
  bytes: number;
  sample: Sample;
  probe: Probe;
}

export interface TargetResult extends Aggregate {
  name: TargetName;
  title: string;
  connections: number;
  probe: { status: number; xCache: string | null } | null;
  /** At one connection: the latency a lone client sees, without queueing behind others. */
  unloaded: { requests: number; p50: number; p90: number; errors: number; non2xx: number } | null;
}

export interface Goal {
  name: string;
  value: number;
  unit: string;
  /** The issue's target, as text: `>= 0.6`. */
  target: string;
  met: boolean;
}

export interface Results {
  mode: "full" | "smoke";
  date: string;
  runSeconds: number;
  machine: Machine;
  settings: {
    /** How every Worker ran: Miniflare (workerd alone) or wrangler dev. */
    runtime: string;
    /** Whether the proxy ran behind Miniflare's assets router. */
    assets?: boolean;
    connections: number;
    durationS: number;
    rounds: number;
    warmupS: number;
    upstreamLatencyMs: number;
    requestTimeoutS: number;
    unloadedS: number;
    pollDurationS: number;
    sizeDurationS: number;
    pendingCacheTtlMs: number;
  };
  targets: TargetResult[];
  ratios: {
    hitReqPerSecOverFloor: number;
    tokenReqPerSecOverFloor: number;
    /** Against the caching proxy a user writes in 20 lines (bench/naive-cache), both hits. */
    hitReqPerSecOverNaiveCacheHit: number;
    hitP50OverUpstreamP50: number;
    /** The same at one connection each. */
    hitP50OverUpstreamP50Unloaded: number;
    missP50MinusNaiveP50Ms: number;
    missP50MinusNaiveP50MsUnloaded: number;
    /** Worker runtime CPU per request above the floor's, in microseconds. */
    hitCpuAboveFloorUs: number | null;
    /** Floor runtime CPU ÷ hit runtime CPU: the req/s ratio if each had the CPU to itself. */
    floorCpuOverHitCpu: number | null;
    /** Hit req/s with per-tenant metrics ÷ the same bundle with METRICS_ENABLED=false (issue 23). */
    hitMetricsOnOverOff: number;
    /** Hit runtime CPU per request with metrics minus without, in microseconds. */
    hitMetricsCpuUs: number | null;
  };
  goals: Goal[];
  scaling: {
    pollers: {
      clients: number;
      durationS: number;
      requests: number;
      reqPerSec: number;
      upstreamCalls: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      statusCodes: Record<string, number>;
    }[];
    sizes: {
      label: string;
      resultBytes: number;
      responseBytes: number;
      xCache: string | null;
      requests: number;
      reqPerSec: number;
      mibPerSec: number;
      latencyMs: { p50: number; p90: number; p99: number };
      upstreamCalls: number;
      errors: number;
      non2xx: number;
      statusCodes: Record<string, number>;
    }[];
  };
  /** The job watcher on two Workers sharing the Durable Objects (bench/lib/watching.ts). */
  watching: {
    windowS: number;
    pollers: {
      clients: number;
      /** Clients on the first Worker and on the second. */
      split: [number, number];
      requests: number;
      reqPerSec: number;
      upstreamCalls: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      statusCodes: Record<string, number>;
    }[];
    subscribers: Omit<SubscriberRun, "windowS">;
    completion: {
      samples: number;
      /** How long each sample's job ran before the fake finished it. */
      runForMs: number[];
      polling: LatencyFigures;
      stream: LatencyFigures;
      failures: string[];
    };
  };
  bundle: {
    budgetKiB: number;
    workers: Record<string, { bytes: number; gzipBytes: number }>;
  };
  cpu: { source: string; note: string };
  /** What makes this run invalid (and the command exit non-zero): errors, wrong answers, leaks. */
  problems: string[];
}

/** Milliseconds from the fake finishing a job to the client seeing it. */
export interface LatencyFigures {
  samplesMs: number[];
  p50: number;
  p95: number;
}

export interface ResultsInput {
  options: BenchOptions;
  machine: Machine;
  runSeconds: number;
  targets: {
    target: Target;
    samples: Sample[];
    /** The same target at one connection. */
    unloaded: Sample | undefined;
    probe: Probe | undefined;
  }[];
  pollers: PollerRun[];
  sizes: SizeRun[];
  watching: {
    pollers: SharedPollerRun[];
    subscribers: SubscriberRun;
    completion: CompletionRun;
  };
  bundles: Record<string, WorkerBundle>;
  pendingCacheTtlMs: number;
}

const CPU_NOTE =
  "workerd exposes no per-request CPU time offline (no Workers Logs, no tail cpuTime), so this is " +
  "process CPU (user + system, /proc) of each Worker's process tree during each run, divided by " +
  "the run's requests. `runtime` is the workerd that runs the Worker; `host` is the Node process " +
  "that started it (Miniflare, or wrangler, which also parses every log line the Worker prints " +
  "and works for each outbound fetch); `entry` is wrangler dev's second workerd in front of the " +
  "Worker (none under Miniflare). Only `runtime` compares with production's CPU time, and it " +
  "still includes HTTP parsing: the floor's figure is the baseline to subtract.";

export function buildResults(input: ResultsInput): Results {
  const { options } = input;
  const targets = input.targets.map(({ target, samples, unloaded, probe }) => ({
    name: target.name,
    title: target.title,
    connections: options.connections,
    probe: probe ? { status: probe.status, xCache: probe.xCache } : null,
    unloaded: unloaded ? unloadedOf(unloaded) : null,
    ...aggregate(samples),
  }));
  const byName = (name: TargetName) => targets.find((t) => t.name === name);
  const floor = byName("floor");
  const upstream = byName("upstream");
  const naive = byName("naive");
  const naiveCache = byName("naive-cache");
  const hit = byName("hit");
  const miss = byName("miss");
  const token = byName("token");
  const hitNoMetrics = byName("hit-no-metrics");
  const ratios = {
    hitMetricsOnOverOff: safeDivide(hit?.reqPerSec, hitNoMetrics?.reqPerSec),
    hitMetricsCpuUs:
      hit?.cpuUsPerRequest && hitNoMetrics?.cpuUsPerRequest
        ? hit.cpuUsPerRequest.runtime - hitNoMetrics.cpuUsPerRequest.runtime
        : null,
    hitReqPerSecOverFloor: safeDivide(hit?.reqPerSec, floor?.reqPerSec),
    tokenReqPerSecOverFloor: safeDivide(token?.reqPerSec, floor?.reqPerSec),
    hitReqPerSecOverNaiveCacheHit: safeDivide(hit?.reqPerSec, naiveCache?.reqPerSec),
    hitP50OverUpstreamP50: safeDivide(hit?.latencyMs.p50, upstream?.latencyMs.p50),
    hitP50OverUpstreamP50Unloaded: safeDivide(hit?.unloaded?.p50, upstream?.unloaded?.p50),
    missP50MinusNaiveP50Ms: (miss?.latencyMs.p50 ?? 0) - (naive?.latencyMs.p50 ?? 0),
    missP50MinusNaiveP50MsUnloaded: (miss?.unloaded?.p50 ?? 0) - (naive?.unloaded?.p50 ?? 0),
    hitCpuAboveFloorUs:
      hit?.cpuUsPerRequest && floor?.cpuUsPerRequest
        ? hit.cpuUsPerRequest.runtime - floor.cpuUsPerRequest.runtime
        : null,
    floorCpuOverHitCpu:
      hit?.cpuUsPerRequest && floor?.cpuUsPerRequest
        ? safeDivide(floor.cpuUsPerRequest.runtime, hit.cpuUsPerRequest.runtime)
        : null,
  };
  const pollers = input.pollers.map(({ clients, sample }) => ({
    clients,
    durationS: sample.run.durationS,
    requests: sample.run.requests,
    reqPerSec: sample.run.requests / sample.run.durationS,
    upstreamCalls: sample.upstreamCalls,
    errors: sample.run.errors,
    timeouts: sample.run.timeouts,
    non2xx: sample.run.non2xx,
    statusCodes: sample.run.statusCodes,
  }));
  const sizes = input.sizes.map(({ label, bytes, sample, probe }) => {
    const stats = aggregate([sample]);
    return {
      label,
      resultBytes: bytes,
      responseBytes: probe.bytes,
      xCache: probe.xCache,
      requests: stats.requests,
      reqPerSec: stats.reqPerSec,
      mibPerSec: stats.bytesPerSec / 1024 ** 2,
      latencyMs: { p50: stats.latencyMs.p50, p90: stats.latencyMs.p90, p99: stats.latencyMs.p99 },
      upstreamCalls: stats.upstreamCalls,
      errors: stats.errors,
      non2xx: stats.non2xx,
      statusCodes: stats.statusCodes,
    };
  });
  const sharedPollers = input.watching.pollers.map(({ clients, split, runs, upstreamCalls }) => {
    const requests = runs.reduce((total, run) => total + run.requests, 0);
    const durationS = Math.max(...runs.map((run) => run.durationS));
    const statusCodes: Record<string, number> = {};
    for (const run of runs) {
      for (const [code, count] of Object.entries(run.statusCodes)) {
        statusCodes[code] = (statusCodes[code] ?? 0) + count;
      }
    }
    const total = (field: "errors" | "timeouts" | "non2xx") =>
      runs.reduce((sum, run) => sum + run[field], 0);
    return {
      clients,
      split,
      requests,
      reqPerSec: durationS ? requests / durationS : 0,
      upstreamCalls,
      errors: total("errors"),
      timeouts: total("timeouts"),
      non2xx: total("non2xx"),
      statusCodes,
    };
  });
  const { windowS, ...subscribers } = input.watching.subscribers;
  const { completion } = input.watching;
  const workers = Object.fromEntries(
    Object.entries(input.bundles).map(([name, b]) => [
      name,
      { bytes: b.bytes, gzipBytes: b.gzipBytes },
    ]),
  );
  const results: Results = {
    mode: options.smoke ? "smoke" : "full",
    date: new Date().toISOString(),
    runSeconds: input.runSeconds,
    machine: input.machine,
    settings: {
      runtime: options.runtime,
      connections: options.connections,
      durationS: options.durationS,
      rounds: options.rounds,
      warmupS: options.warmupS,
      upstreamLatencyMs: options.latencyMs,
      assets: options.assets,
      requestTimeoutS: options.timeoutS,
      unloadedS: options.unloadedS,
      pollDurationS: options.pollDurationS,
      sizeDurationS: options.sizeDurationS,
      pendingCacheTtlMs: input.pendingCacheTtlMs,
    },
    targets,
    ratios,
    goals: [],
    scaling: { pollers, sizes },
    watching: {
      windowS,
      pollers: sharedPollers,
      subscribers,
      completion: {
        samples: completion.runForMs.length,
        runForMs: completion.runForMs,
        polling: latencyFigures(completion.pollingMs),
        stream: latencyFigures(completion.streamMs),
        failures: completion.failures,
      },
    },
    bundle: { budgetKiB: BUNDLE_BUDGET_KIB, workers },
    cpu: { source: "/proc/PID/stat of each Worker's process tree", note: CPU_NOTE },
    problems: [],
  };
  results.goals = goalsOf(results);
  results.problems = problemsOf(results);
  return results;
}

function unloadedOf(sample: Sample): NonNullable<TargetResult["unloaded"]> {
  const stats = aggregate([sample]);
  return {
    requests: stats.requests,
    p50: stats.latencyMs.p50,
    p90: stats.latencyMs.p90,
    errors: stats.errors,
    non2xx: stats.non2xx,
  };
}

/** Nearest-rank p50 and p95. */
export function latencyFigures(samplesMs: number[]): LatencyFigures {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const rank = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
  return { samplesMs, p50: rank(0.5), p95: rank(0.95) };
}

function safeDivide(a: number | undefined, b: number | undefined): number {
  return a !== undefined && b ? a / b : 0;
}

/** Issue 13's speed targets: what a cache hit may cost above the floor, in µs of runtime CPU. */
const HIT_CPU_ABOVE_FLOOR_US = 200;

/** The issues' targets, measured (never asserted: a miss is reported, not a failure). */
function goalsOf(results: Results): Goal[] {
  const { ratios, scaling, settings, bundle } = results;
  const first = scaling.pollers[0];
  const last = scaling.pollers[scaling.pollers.length - 1];
  const intervals = Math.ceil((settings.pollDurationS * 1000) / settings.pendingCacheTtlMs);
  const goals: Goal[] = [
    {
      name: "hit req/s ÷ floor req/s",
      value: ratios.hitReqPerSecOverFloor,
      unit: "×",
      target: ">= 0.6",
      met: ratios.hitReqPerSecOverFloor >= 0.6,
    },
    {
      name: "browser-token hit req/s ÷ floor req/s",
      value: ratios.tokenReqPerSecOverFloor,
      unit: "×",
      target: ">= 0.55",
      met: ratios.tokenReqPerSecOverFloor >= 0.55,
    },
    {
      name: "proxy hit req/s ÷ naive caching proxy hit req/s",
      value: ratios.hitReqPerSecOverNaiveCacheHit,
      unit: "×",
      target: ">= 1.0",
      met: ratios.hitReqPerSecOverNaiveCacheHit >= 1.0,
    },
    {
      name: "hit p50 ÷ upstream p50",
      value: ratios.hitP50OverUpstreamP50,
      unit: "×",
      target: "<= 0.1",
      met: ratios.hitP50OverUpstreamP50 <= 0.1,
    },
    {
      name: "miss p50 − naive p50",
      value: ratios.missP50MinusNaiveP50Ms,
      unit: "ms",
      target: "<= 2",
      met: ratios.missP50MinusNaiveP50Ms <= 2,
    },
    {
      name: "hit p50 ÷ upstream p50, 1 connection each",
      value: ratios.hitP50OverUpstreamP50Unloaded,
      unit: "×",
      target: "<= 0.1",
      met: ratios.hitP50OverUpstreamP50Unloaded <= 0.1,
    },
    {
      name: "miss p50 − naive p50, 1 connection each",
      value: ratios.missP50MinusNaiveP50MsUnloaded,
      unit: "ms",
      target: "<= 2",
      met: ratios.missP50MinusNaiveP50MsUnloaded <= 2,
    },
  ];
  goals.push({
    name: "hit req/s, metrics on ÷ metrics off",
    value: ratios.hitMetricsOnOverOff,
    unit: "×",
    target: ">= 0.95",
    met: ratios.hitMetricsOnOverOff >= 0.95,
  });
  if (ratios.hitCpuAboveFloorUs !== null) {
    goals.push({
      name: "hit runtime CPU above floor's",
      value: ratios.hitCpuAboveFloorUs,
      unit: "µs",
      target: `<= ${HIT_CPU_ABOVE_FLOOR_US}`,
      met: ratios.hitCpuAboveFloorUs <= HIT_CPU_ABOVE_FLOOR_US,
    });
  }
  if (first && last && last !== first) {
    const bound = first.upstreamCalls + intervals;
    goals.push({
      name: `upstream calls, ${last.clients} pollers (1 poller: ${first.upstreamCalls})`,
      value: last.upstreamCalls,
      unit: "calls",
      target: `<= ${bound}`,
      met: last.upstreamCalls <= bound,
    });
  }
  goals.push(...watchingGoalsOf(results.watching));
  const proxy = bundle.workers.proxy;
  if (proxy) {
    const kib = proxy.gzipBytes / 1024;
    goals.push({
      name: "bundle, gzipped",
      value: kib,
      unit: "KiB",
      target: `<= ${bundle.budgetKiB}`,
      met: kib <= bundle.budgetKiB,
    });
  }
  return goals;
}

/**
 * Clients of one running job through two Workers cost Waveline what one client costs: one call
 * per interval, give or take the one in flight at the window's edge. A stream tells its client
 * sooner than polling does.
 */
function watchingGoalsOf(watching: Results["watching"]): Goal[] {
  const goals: Goal[] = [];
  const first = watching.pollers[0];
  const last = watching.pollers[watching.pollers.length - 1];
  if (first && last) {
    const bound = first.upstreamCalls + 1;
    if (last !== first) {
      goals.push({
        name: `upstream calls, ${last.clients} pollers on two Workers (1 poller: ${first.upstreamCalls})`,
        value: last.upstreamCalls,
        unit: "calls",
        target: `<= ${bound}`,
        met: last.upstreamCalls <= bound,
      });
    }
    const { subscribers } = watching;
    goals.push({
      name: `upstream calls, ${subscribers.clients} stream subscribers on two Workers (1 poller: ${first.upstreamCalls})`,
      value: subscribers.upstreamCalls,
      unit: "calls",
      target: `<= ${bound}`,
      met: subscribers.upstreamCalls <= bound,
    });
  }
  const { polling, stream } = watching.completion;
  goals.push({
    name: `job finished → client sees it, p50: stream (polling: ${polling.p50.toFixed(0)} ms)`,
    value: stream.p50,
    unit: "ms",
    target: `< ${polling.p50.toFixed(0)}`,
    met: stream.samplesMs.length > 0 && stream.p50 < polling.p50,
  });
  return goals;
}

/** What says the benchmark measured something other than it claims: never about speed. */
function problemsOf(results: Results): string[] {
  const problems: string[] = [];
  for (const t of results.targets) {
    if (t.requests === 0) problems.push(`${t.name}: no request completed`);
    if (t.errors > 0) problems.push(`${t.name}: ${t.errors} connection errors or timeouts`);
    if (t.non2xx > 0) problems.push(`${t.name}: ${t.non2xx} non-2xx answers ${codes(t)}`);
    if (t.probe && t.probe.status !== 200) problems.push(`${t.name}: probe got ${t.probe.status}`);
    if (t.unloaded && (t.unloaded.errors || t.unloaded.non2xx)) {
      problems.push(
        `${t.name}, 1 connection: ${t.unloaded.errors} errors, ${t.unloaded.non2xx} non-2xx`,
      );
    }
  }
  const expectCache = (name: TargetName, prefix: string) => {
    const t = results.targets.find((target) => target.name === name);
    if (t && !t.probe?.xCache?.startsWith(prefix)) {
      problems.push(`${name}: X-Cache is ${t.probe?.xCache ?? "missing"}, expected ${prefix}`);
    }
    return t;
  };
  for (const name of [
    "hit",
    "hit-no-metrics",
    "token",
    "naive-cache",
    "deno-hit",
    "deno-token",
  ] as const) {
    const t = expectCache(name, "HIT");
    if (t && t.upstreamCalls > 0) problems.push(`${name}: ${t.upstreamCalls} upstream calls`);
  }
  for (const name of ["miss", "deno-miss"] as const) {
    const miss = expectCache(name, "MISS");
    if (miss && miss.upstreamCalls < 0.9 * miss.requests) {
      problems.push(
        `${name}: only ${miss.upstreamCalls} upstream calls for ${miss.requests} requests`,
      );
    }
  }
  // Connection errors, timeouts and even no answer within a short smoke run for many pollers on
  // a busy 2-core machine are the load generator's limit, not the proxy's: reported, not broken.
  for (const p of results.scaling.pollers) {
    if (p.non2xx) problems.push(`${p.clients} pollers: ${p.non2xx} non-2xx ${codes(p)}`);
    if (p.requests > 0 && p.upstreamCalls < 1) {
      problems.push(`${p.clients} pollers: no upstream call at all`);
    }
  }
  for (const p of results.watching.pollers) {
    if (p.non2xx)
      problems.push(`${p.clients} pollers, two Workers: ${p.non2xx} non-2xx ${codes(p)}`);
    if (p.requests > 0 && p.upstreamCalls < 1) {
      problems.push(`${p.clients} pollers, two Workers: no upstream call at all`);
    }
  }
  const { subscribers, completion } = results.watching;
  if (subscribers.opened < subscribers.clients || subscribers.withEvents < subscribers.clients) {
    problems.push(
      `subscribers: ${subscribers.opened} of ${subscribers.clients} streams opened, ` +
        `${subscribers.withEvents} got an event`,
    );
  }
  for (const failure of subscribers.failures.slice(0, 5)) problems.push(`subscriber: ${failure}`);
  if (subscribers.upstreamCalls < 1) problems.push("subscribers: no upstream call at all");
  for (const failure of completion.failures) problems.push(`completion: ${failure}`);
  for (const s of results.scaling.sizes) {
    if (s.errors || s.non2xx) {
      problems.push(`${s.label}: ${s.errors} errors, ${s.non2xx} non-2xx ${codes(s)}`);
    }
    if (!s.xCache?.startsWith("HIT")) problems.push(`${s.label}: X-Cache is ${s.xCache}`);
    if (s.upstreamCalls > 0) problems.push(`${s.label}: ${s.upstreamCalls} upstream calls on hits`);
  }
  return problems;
}

function codes(run: { statusCodes: Record<string, number> }): string {
  return `(status codes ${JSON.stringify(run.statusCodes)})`;
}

// ------------------------------------------------------------------------------------------------
// Rendering

const ms = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));
export const int = (value: number) => Math.round(value).toLocaleString("en-US");
const ratio = (value: number) => (value < 0.1 ? value.toFixed(3) : value.toFixed(2));

function goalValue(goal: Goal): string {
  if (goal.unit === "×") return `${ratio(goal.value)}×`;
  if (goal.unit === "calls") return String(goal.value);
  if (goal.unit === "µs") return `${int(goal.value)} µs`;
  return `${goal.value.toFixed(2)} ${goal.unit}`;
}

function cpuCell(t: TargetResult, role: "runtime" | "entry" | "host"): string {
  return t.cpuUsPerRequest ? int(t.cpuUsPerRequest[role]) : "–";
}

export function table(header: string[], rows: string[][]): string {
  const lines = [header, header.map(() => "---"), ...rows];
  return lines.map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

export function targetsTable(results: Results): string {
  return table(
    [
      "target",
      "req/s",
      "p50 ms",
      "p90 ms",
      "p99 ms",
      "errors",
      "non-2xx",
      "upstream calls",
      "runtime CPU µs/req",
      "X-Cache",
      "p50 ms, 1 connection",
    ],
    results.targets.map((t) => [
      t.title,
      int(t.reqPerSec),
      ms(t.latencyMs.p50),
      ms(t.latencyMs.p90),
      ms(t.latencyMs.p99),
      String(t.errors),
      String(t.non2xx),
      `${t.upstreamCalls} (${t.upstreamCallsPerRequest.toFixed(2)}/req)`,
      cpuCell(t, "runtime"),
      t.probe?.xCache ?? "–",
      t.unloaded ? ms(t.unloaded.p50) : "–",
    ]),
  );
}

function goalsTable(results: Results): string {
  const judged = results.mode === "full";
  return table(
    ["measure", "value", "target", judged ? "met" : "met (smoke: not judged)"],
    results.goals.map((goal) => [
      goal.name,
      goalValue(goal),
      goal.target,
      goal.met ? "yes" : "**no**",
    ]),
  );
}

export function renderResultsMarkdown(results: Results): string {
  const { machine, settings } = results;
  const pollers = table(
    ["clients", "seconds", "answers", "req/s", "upstream calls", "errors (timeouts)", "non-2xx"],
    results.scaling.pollers.map((p) => [
      String(p.clients),
      p.durationS.toFixed(1),
      int(p.requests),
      int(p.reqPerSec),
      String(p.upstreamCalls),
      `${p.errors} (${p.timeouts})`,
      String(p.non2xx),
    ]),
  );
  const sizes = table(
    [
      "result",
      "response bytes",
      "X-Cache",
      "req/s",
      "MiB/s",
      "p50 ms",
      "p90 ms",
      "p99 ms",
      "calls",
    ],
    results.scaling.sizes.map((s) => [
      s.label,
      int(s.responseBytes),
      s.xCache ?? "–",
      int(s.reqPerSec),
      s.mibPerSec.toFixed(1),
      ms(s.latencyMs.p50),
      ms(s.latencyMs.p90),
      ms(s.latencyMs.p99),
      String(s.upstreamCalls),
    ]),
  );
  const { watching } = results;
  const watchers = table(
    [
      "clients",
      "Workers (clients on each)",
      "seconds",
      "answers",
      "req/s",
      "upstream calls",
      "errors (timeouts)",
      "non-2xx",
    ],
    [
      ...watching.pollers.map((p) => [
        `${p.clients} polling`,
        p.split[1] ? `2 (${p.split[0]} + ${p.split[1]})` : `1 (${p.split[0]})`,
        watching.windowS.toFixed(1),
        int(p.requests),
        int(p.reqPerSec),
        String(p.upstreamCalls),
        `${p.errors} (${p.timeouts})`,
        String(p.non2xx),
      ]),
      [
        `${watching.subscribers.clients} subscribed to \`/events\``,
        `2 (${Math.ceil(watching.subscribers.clients / 2)} + ${Math.floor(watching.subscribers.clients / 2)})`,
        watching.windowS.toFixed(1),
        `${int(watching.subscribers.events)} events`,
        "–",
        String(watching.subscribers.upstreamCalls),
        String(watching.subscribers.failures.length),
        String(watching.subscribers.clients - watching.subscribers.opened),
      ],
    ],
  );
  const { completion } = watching;
  const completionRows = table(
    [
      "client",
      "samples",
      "p50 ms",
      "p95 ms",
      "each sample, ms (job ran for " +
        completion.runForMs.map((t) => (t / 1000).toFixed(1)).join(", ") +
        " s)",
    ],
    (["polling", "stream"] as const).map((kind) => [
      kind === "polling"
        ? "polling (`Retry-After` + ≤ 250 ms jitter)"
        : "stream (`GET /jobs/{id}/events`)",
      String(completion[kind].samplesMs.length),
      int(completion[kind].p50),
      int(completion[kind].p95),
      completion[kind].samplesMs.map((v) => int(v)).join(", "),
    ]),
  );
  const bundles = table(
    ["Worker", "bytes (minified)", "gzipped KiB"],
    Object.entries(results.bundle.workers).map(([name, b]) => [
      name,
      int(b.bytes),
      (b.gzipBytes / 1024).toFixed(1),
    ]),
  );
  const cpu = table(
    ["target", "runtime µs/req", "entry µs/req", "host µs/req"],
    results.targets
      .filter((t) => t.cpuUsPerRequest)
      .map((t) => [t.title, cpuCell(t, "runtime"), cpuCell(t, "entry"), cpuCell(t, "host")]),
  );
  const hitCpu = results.ratios.hitCpuAboveFloorUs;
  const cpuRatio = results.ratios.floorCpuOverHitCpu;
  return `# Benchmark results

Written by \`npm run bench\` (${results.mode} run) on ${results.date}; the run took
${results.runSeconds.toFixed(0)} s. How to read this: [README.md](README.md).

![req/s and p99 per target](chart.svg)

## Machine

| nproc | CPU | memory | OS | node | wrangler | miniflare | workerd | autocannon | load average (start → end) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| ${machine.nproc} | ${machine.cpuModel} | ${machine.memoryGiB} GiB | ${machine.os} | ${machine.node} | ${machine.wrangler} | ${machine.miniflare} | ${machine.workerd} | ${machine.autocannon} | ${machine.loadAverage.start} → ${machine.loadAverage.end} |

## Settings

Every Worker ran under ${settings.runtime === "miniflare" ? "Miniflare (workerd alone, its log lines written to a file)" : "wrangler dev (an entry workerd in front, log lines parsed by wrangler)"}.
The proxy ran ${settings.assets ? "with its `[assets]`: Miniflare's assets router in front of every request" : 'without its `[assets]` (the /docs and /demo pages): no assets router in front (see README, "The assets router")'}.
${settings.connections} connections for every target, ${settings.rounds} interleaved rounds of ${settings.durationS} s each (after
${settings.warmupS} s of unmeasured warm-up per target), fake Waveline latency ${settings.upstreamLatencyMs} ms, request timeout
${settings.requestTimeoutS} s. Latencies are percentiles over every response of every round. A saturated target's p50 is
mostly queueing (≈ connections ÷ req/s), so each target also ran alone at one connection for
${settings.unloadedS} s: the last column, the latency a lone client sees.

## Targets

${targetsTable(results)}

## Ratios against the issue's targets

${goalsTable(results)}

Worker runtime CPU of a hit above the floor's: ${hitCpu === null ? "not measured" : `${int(hitCpu)} µs per request`};
floor runtime CPU ÷ hit runtime CPU: ${cpuRatio === null ? "not measured" : `${ratio(cpuRatio)}×`} (what hit ÷ floor req/s
would be if the Worker's runtime were the only thing using the CPU).
${renderDenoSection(results)}
## Scaling: clients polling one running job

Pending cache on (${settings.pendingCacheTtlMs} ms), ${settings.pollDurationS} s per row, every
client polling as fast as it gets answers. Upstream calls are those for that row's job only.

${pollers}

## The job watcher: one running job, two Workers

The proxy as two Workers of one Miniflare instance sharing its Durable Objects, D1 and KV (as two
Cloudflare locations do; neither has a Cache API, see README.md). ${watching.windowS} s per row; pollers
poll as fast as they get answers; upstream calls are those for that row's job only. A lone
poller is the figure every row should match: one call per ${settings.pendingCacheTtlMs} ms interval.

${watchers}

### Job finished → client sees it

Each sample's job is finished on the fake (\`PATCH /__control/jobs/:id\`) after it ran for the
time below; the figure is from the fake's answer to the client having the terminal job. A polling
client and a stream client watch jobs of their own, started together, on the same Worker.

${completionRows}

## Scaling: hit path by result size

${settings.connections} connections, ${settings.sizeDurationS} s per row, after warm-up (the
first read fills the cache). Results over 1 MiB skip the in-memory tier by design.

${sizes}

## Bundle

Budget: ${results.bundle.budgetKiB} KiB gzipped for the proxy (\`npm run size\` measures the same).

${bundles}

## CPU time per request

${cpu}

${results.cpu.note}
${results.problems.length ? `\n## Problems\n\n${results.problems.map((p) => `- ${p}`).join("\n")}\n` : ""}`;
}

/** For the terminal: the targets, the goals, the scaling, in short. */
export function renderSummary(results: Results): string {
  const goals = results.goals
    .map((g) => `  ${g.met ? "ok  " : "MISS"} ${g.name}: ${goalValue(g)} (target ${g.target})`)
    .join("\n");
  const pollers = results.scaling.pollers
    .map((p) => `${p.clients} → ${p.upstreamCalls}`)
    .join(", ");
  const sizes = results.scaling.sizes
    .map((s) => `${s.label} p50 ${ms(s.latencyMs.p50)} ms`)
    .join(", ");
  const { watching } = results;
  const shared = watching.pollers.map((p) => `${p.clients} → ${p.upstreamCalls}`).join(", ");
  const { polling, stream } = watching.completion;
  return [
    "",
    targetsTable(results),
    "",
    `Goals (${results.mode === "smoke" ? "smoke run: reported, not judged" : "full run"}):`,
    goals,
    `Pollers → upstream calls: ${pollers}`,
    `Hit path by size: ${sizes}`,
    `Two Workers, pollers → upstream calls: ${shared}; ` +
      `${watching.subscribers.clients} subscribers → ${watching.subscribers.upstreamCalls}`,
    `Job finished → seen, p50/p95 ms: polling ${int(polling.p50)}/${int(polling.p95)}, ` +
      `stream ${int(stream.p50)}/${int(stream.p95)}`,
    "",
  ].join("\n");
}
