/**
 * `npm run bench [-- --smoke] [--connections N] ...`: the full run, or CI's short smoke run;
 * `--far-storage`: storage work per request with storage far away (issue 21) instead.
 */
import { parseArgs } from "node:util";
import type { Runtime } from "./processes";
import type { WatchingOptions } from "./watching";

export interface BenchOptions {
  smoke: boolean;
  /** The proxy behind Miniflare's assets router, as `wrangler dev` runs it (off: see README). */
  assets: boolean;
  /** How every Worker runs (bench/lib/processes.ts). */
  runtime: Runtime;
  /** The proxy on Deno and a bare Deno.serve floor too (bench/lib/deno.ts). */
  deno: boolean;
  /** Same for every target. */
  connections: number;
  /** Seconds per target per round. */
  durationS: number;
  rounds: number;
  /** Seconds each target runs once, unmeasured, before the rounds; 0: two probes only. */
  warmupS: number;
  /** The fake Waveline's added latency. */
  latencyMs: number;
  /** A request slower than this counts as an error. */
  timeoutS: number;
  /** Seconds per target at one connection: latency without queueing. */
  unloadedS: number;
  pollers: number[];
  pollDurationS: number;
  sizeDurationS: number;
  /** The job watcher's figures, on the proxy pair (bench/lib/watching.ts). */
  watching: WatchingOptions;
  /** Only the far-storage mode (bench/lib/far-storage.ts), none of the above. */
  farStorage: boolean;
  /** Far storage: other tenants seeded, each with two API keys and one origin. */
  tenants: number;
  /** Far storage: in front of every D1 round trip and every Durable Object call. */
  storageLatencyMs: number;
  /** Where results.json, RESULTS.md and chart.svg go; none: print only. */
  outDir: string | undefined;
  /** The whole run is stopped past this: nothing may hang. */
  deadlineS: number;
}

const FULL: BenchOptions = {
  smoke: false,
  assets: false,
  runtime: "miniflare",
  deno: true,
  connections: 10,
  durationS: 3,
  rounds: 3,
  warmupS: 0.5,
  latencyMs: 50,
  timeoutS: 10,
  unloadedS: 1.5,
  pollers: [1, 10, 100, 1000],
  pollDurationS: 10,
  sizeDurationS: 2,
  watching: {
    sharedPollers: [1, 100, 1000],
    subscribers: 100,
    windowS: 10,
    completionSamples: 10,
    completionRunS: { min: 1, max: 8 },
  },
  farStorage: false,
  tenants: 10_000,
  storageLatencyMs: 50,
  outDir: "bench",
  deadlineS: 360,
};

const SMOKE: BenchOptions = {
  ...FULL,
  smoke: true,
  durationS: 2,
  rounds: 1,
  warmupS: 0,
  unloadedS: 0.5,
  pollDurationS: 0.5,
  sizeDurationS: 1,
  watching: {
    sharedPollers: [1, 100, 1000],
    subscribers: 100,
    // 100 streams opening through two Workers take over a second on a busy 2-core machine:
    // a shorter window judged the machine, not the watcher.
    windowS: 4,
    completionSamples: 2,
    completionRunS: { min: 0.5, max: 1 },
  },
  tenants: 1_000,
  outDir: undefined,
  deadlineS: 120,
};

export const USAGE = `npm run bench [-- options]
  --smoke               short CI run: ~2 s per target, no files written, no speed targets
  --assets              run the proxy with its [assets] (/docs, /demo): Miniflare's assets router
                        in front of every request (default: without; see README)
  --runtime NAME        miniflare (default: workerd alone, log lines written to a file) or
                        wrangler (wrangler dev: an entry workerd in front, logs parsed in Node)
  --no-deno             leave out the Deno targets (the proxy on Deno, a bare Deno.serve floor)
  --connections N       connections for every target (default ${FULL.connections})
  --duration S          seconds per target per round (default ${FULL.durationS}; smoke ${SMOKE.durationS})
  --rounds N            interleaved rounds A B C A B C ... (default ${FULL.rounds}; smoke ${SMOKE.rounds})
  --latency MS          the fake Waveline's simulated latency (default ${FULL.latencyMs})
  --pollers LIST        clients polling one running job (default ${FULL.pollers.join(",")})
  --poll-duration S     seconds per poller count (default ${FULL.pollDurationS}; smoke ${SMOKE.pollDurationS})
  --size-duration S     seconds per result size (default ${FULL.sizeDurationS}; smoke ${SMOKE.sizeDurationS})
  --watch-window S      seconds per row of the job watcher's pollers and subscribers, on two
                        Workers (default ${FULL.watching.windowS}; smoke ${SMOKE.watching.windowS})
  --samples N           jobs finished per kind of client, polling and stream (default
                        ${FULL.watching.completionSamples}; smoke ${SMOKE.watching.completionSamples})
  --out DIR             write results.json, RESULTS.md, chart.svg there (default bench; smoke: none)
  --far-storage         only the far-storage mode (issue 21): storage work per request with D1 and
                        the Durable Objects far away; writes far-storage.json and its section of
                        RESULTS.md (smoke: nothing)
  --tenants N           far storage: other tenants seeded (default ${FULL.tenants}; smoke ${SMOKE.tenants})
  --storage-latency MS  far storage: in front of every D1 round trip and Durable Object call
                        (default ${FULL.storageLatencyMs})`;

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      smoke: { type: "boolean" },
      assets: { type: "boolean" },
      runtime: { type: "string" },
      "no-deno": { type: "boolean" },
      connections: { type: "string" },
      duration: { type: "string" },
      rounds: { type: "string" },
      latency: { type: "string" },
      pollers: { type: "string" },
      "poll-duration": { type: "string" },
      "size-duration": { type: "string" },
      "watch-window": { type: "string" },
      samples: { type: "string" },
      out: { type: "string" },
      "far-storage": { type: "boolean" },
      tenants: { type: "string" },
      "storage-latency": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const base = values.smoke ? SMOKE : FULL;
  const runtime = values.runtime ?? base.runtime;
  if (runtime !== "miniflare" && runtime !== "wrangler") {
    throw new Error(`--runtime is miniflare or wrangler, got ${runtime}\n${USAGE}`);
  }
  return {
    ...base,
    assets: values.assets ?? false,
    runtime,
    deno: !values["no-deno"],
    connections: integer(values.connections, base.connections, 1, 1000),
    durationS: number(values.duration, base.durationS, 0.5, 60),
    rounds: integer(values.rounds, base.rounds, 1, 10),
    latencyMs: integer(values.latency, base.latencyMs, 0, 5000),
    pollers: values.pollers
      ? values.pollers.split(",").map((n) => integer(n, 1, 1, 1000))
      : base.pollers,
    pollDurationS: number(values["poll-duration"], base.pollDurationS, 0.5, 60),
    sizeDurationS: number(values["size-duration"], base.sizeDurationS, 0.5, 60),
    watching: {
      ...base.watching,
      windowS: number(values["watch-window"], base.watching.windowS, 0.5, 60),
      completionSamples: integer(values.samples, base.watching.completionSamples, 1, 100),
    },
    farStorage: values["far-storage"] ?? false,
    tenants: integer(values.tenants, base.tenants, 0, 1_000_000),
    storageLatencyMs: integer(values["storage-latency"], base.storageLatencyMs, 0, 5000),
    outDir: values.out ?? base.outDir,
  };
}

function number(raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`expected a number from ${min} to ${max}, got ${raw}\n${USAGE}`);
  }
  return value;
}

function integer(raw: string | undefined, fallback: number, min: number, max: number): number {
  const value = number(raw, fallback, min, max);
  if (!Number.isInteger(value)) throw new Error(`expected a whole number, got ${raw}\n${USAGE}`);
  return value;
}
