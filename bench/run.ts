/**
 * `npm run bench`: the proxy against a bare Worker, a naive proxy and the upstream itself, all in
 * workerd (under Miniflare, or `wrangler dev` with --runtime wrangler), driven by autocannon at
 * the same connections and duration, interleaved. `npm run bench -- --smoke` is CI's short run;
 * `npm run bench -- --far-storage` measures storage work per request instead. See bench/README.md.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEV_API_KEY } from "../dev/seed";
import { renderChart } from "./lib/chart";
import { prepareDenoTargets } from "./lib/deno";
import {
  farStorageResults,
  keepFarStorageSection,
  renderFarStorageSummary,
  runFarStorage,
  writeFarStorage,
} from "./lib/far-storage";
import { type Probe, probe, probeUntilHit } from "./lib/fixtures";
import { describeMachine, loadAverageNow } from "./lib/machine";
import { type Context, measure, type Sample, type Target, type TargetName } from "./lib/measure";
import { type BenchOptions, parseOptions } from "./lib/options";
import { stopAll, superviseRun } from "./lib/processes";
import {
  buildResults,
  latencyFigures,
  type PollerRun,
  type Results,
  type ResultsInput,
  renderResultsMarkdown,
  renderSummary,
  type SizeRun,
} from "./lib/report";
import { type BenchStack, startBenchStack } from "./lib/stack";
import { prepareTargets, SIZES } from "./lib/targets";
import {
  measureCompletion,
  measureSharedPollers,
  measureSubscribers,
  prepareWatching,
  type WatchedStack,
  type WatchingJobs,
} from "./lib/watching";

const startedAt = performance.now();
const loadAtStart = loadAverageNow();
const elapsedS = () => (performance.now() - startedAt) / 1000;
const log = (line: string) =>
  console.error(`[bench ${elapsedS().toFixed(1).padStart(5)} s] ${line}`);

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const workDir = mkdtempSync(join(tmpdir(), "waveline-bench-"));
  const release = superviseRun(workDir, options.deadlineS * 1000, log);
  try {
    if (options.farStorage) return await farStorage(options, workDir);
    const results = await benchmark(options, workDir);
    console.log(renderSummary(results));
    if (options.outDir) writeOutputs(options.outDir, results);
    for (const problem of results.problems) log(`BROKEN: ${problem}`);
    log(`done in ${results.runSeconds.toFixed(0)} s`);
    return results.problems.length ? 1 : 0;
  } catch (err) {
    log(`failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    release();
    await stopAll();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** Storage work per request with storage far away: judged, never failed on its targets. */
async function farStorage(options: BenchOptions, workDir: string): Promise<number> {
  const figures = await runFarStorage(options, workDir, log);
  const results = farStorageResults(figures, {
    machine: describeMachine(loadAtStart),
    runSeconds: elapsedS(),
  });
  console.log(renderFarStorageSummary(results));
  if (options.outDir) {
    writeFarStorage(options.outDir, results);
    log(`wrote ${options.outDir}/far-storage.json and its section of ${options.outDir}/RESULTS.md`);
  }
  log(`done in ${results.runSeconds.toFixed(0)} s`);
  return 0;
}

async function benchmark(options: BenchOptions, workDir: string): Promise<Results> {
  const stack = await startBenchStack(
    workDir,
    {
      runtime: options.runtime,
      latencyMs: options.latencyMs,
      minify: true,
      pair: true,
      assets: options.assets,
    },
    log,
  );
  const ctx: Context = {
    fakeOrigin: stack.fake.origin,
    connections: options.connections,
    timeoutS: options.timeoutS,
    settleMs: options.latencyMs + 100,
  };

  log("raising the demo tenant's read limit; creating jobs and giving them to the demo tenant");
  if (!stack.pair) throw new Error("the proxy pair did not start");
  const watched: WatchedStack = { fake: stack.fake, pair: stack.pair };
  const [{ jobs, targets }, watchingJobs] = await Promise.all([
    prepareTargets(stack, options),
    prepareWatching(watched, options.watching),
  ]);
  if (options.deno) {
    log("starting the proxy on Deno and the bare Deno.serve floor");
    targets.push(...(await prepareDenoTargets(workDir, stack, jobs)));
  }

  log(`warming up every target${options.warmupS ? ` for ${options.warmupS} s` : ""}`);
  await warmUp(ctx, targets, options.warmupS);
  const probes = await probeAll(targets);

  const samples = new Map<TargetName, Sample[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const target of targets) {
      const sample = await measure(ctx, target, options.durationS);
      samples.get(target.name)?.push(sample);
      const rps = sample.run.requests / sample.run.durationS;
      log(`round ${round}/${options.rounds} ${target.name.padEnd(11)} ${rps.toFixed(0)} req/s`);
    }
  }

  log(`each target alone: one connection for ${options.unloadedS} s`);
  const unloaded = new Map<TargetName, Sample>();
  for (const target of targets) {
    unloaded.set(target.name, await measure(ctx, target, options.unloadedS, { connections: 1 }));
  }

  const pollers = await measurePollers(ctx, stack, jobs.pollIds, options);
  const watching = await measureWatching(ctx, watched, watchingJobs, options);
  const sizes = await measureSizes(ctx, stack, jobs.sizeIds, options);
  const results = buildResults({
    options,
    machine: describeMachine(loadAtStart),
    runSeconds: elapsedS(),
    targets: targets.map((target) => ({
      target,
      samples: samples.get(target.name) ?? [],
      unloaded: unloaded.get(target.name),
      probe: probes.get(target.name),
    })),
    pollers,
    sizes,
    watching,
    bundles: stack.bundles,
    pendingCacheTtlMs: stack.pendingCacheTtlMs,
  });
  if (results.problems.length) printOutputs(stack);
  return results;
}

/**
 * What the processes printed last (wrangler at warn level), and the Workers' own last log lines
 * (Miniflare writes them to a file): the first clue when a run breaks.
 */
function printOutputs(stack: BenchStack): void {
  const lastLines = (text: string) => text.trim().split("\n").slice(-20).join("\n");
  const all = [
    stack.fake,
    stack.floor,
    stack.naive,
    stack.naiveCache,
    stack.proxy,
    stack.proxyNoPending,
    stack.proxyNoMetrics,
    stack.pair,
  ];
  for (const managed of all) {
    if (!managed) continue;
    const tail = lastLines(managed.output());
    if (tail) log(`last output of ${managed.name}:\n${tail}`);
    const logFile = "logFile" in managed ? managed.logFile : undefined;
    if (logFile && existsSync(logFile)) {
      log(
        `last log lines of ${managed.name} (${logFile}):\n${lastLines(readFileSync(logFile, "utf8"))}`,
      );
    }
  }
}

/** Unmeasured load per target (JIT, connections, caches); a smoke run only probes each twice. */
async function warmUp(ctx: Context, targets: Target[], seconds: number): Promise<void> {
  for (const target of targets) {
    if (seconds > 0) await measure(ctx, target, seconds);
    else
      for (const path of target.paths.slice(0, 2))
        await probe(`${target.origin}${path}`, target.headers);
  }
}

async function probeAll(targets: Target[]): Promise<Map<TargetName, Probe>> {
  const probes = new Map<TargetName, Probe>();
  for (const target of targets) {
    probes.set(target.name, await probe(`${target.origin}${target.paths[0]}`, target.headers));
  }
  return probes;
}

async function measurePollers(
  ctx: Context,
  stack: BenchStack,
  pollIds: string[],
  options: BenchOptions,
): Promise<PollerRun[]> {
  const runs: PollerRun[] = [];
  for (const [index, clients] of options.pollers.entries()) {
    const id = pollIds[index] ?? "";
    const target = {
      origin: stack.proxy.url,
      paths: [`/jobs/${id}`],
      headers: { Authorization: `Bearer ${DEV_API_KEY}` },
      worker: stack.proxy,
      jobIds: [id],
    };
    const sample = await measure(ctx, target, options.pollDurationS, { connections: clients });
    log(`${clients} pollers of one running job: ${sample.upstreamCalls} upstream calls`);
    runs.push({ clients, sample });
  }
  return runs;
}

/** The job watcher on the proxy pair: shared pollers, stream subscribers, completion latency. */
async function measureWatching(
  ctx: Context,
  stack: WatchedStack,
  jobs: WatchingJobs,
  options: BenchOptions,
): Promise<ResultsInput["watching"]> {
  const { sharedPollers, subscribers, windowS } = options.watching;
  const pollers = [];
  for (const [index, clients] of sharedPollers.entries()) {
    const id = jobs.pollIds[index] ?? "";
    const run = await measureSharedPollers(ctx, stack, id, clients, windowS);
    log(
      `${clients} pollers of one running job on two Workers: ${run.upstreamCalls} upstream calls`,
    );
    pollers.push(run);
  }
  const subscribed = await measureSubscribers(ctx, stack, jobs.subscribeId, subscribers, windowS);
  log(
    `${subscribers} subscribers of one running job's events on two Workers: ` +
      `${subscribed.upstreamCalls} upstream calls, ${subscribed.events} events`,
  );
  const { completionSamples, completionRunS } = options.watching;
  log(
    `${completionSamples} jobs finished after ${completionRunS.min}–${completionRunS.max} s, ` +
      "each watched by a polling client and a stream client",
  );
  const completion = await measureCompletion(stack, jobs, options.watching);
  log(
    `seen finished after (p50): polling ${latencyFigures(completion.pollingMs).p50.toFixed(0)} ms, ` +
      `stream ${latencyFigures(completion.streamMs).p50.toFixed(0)} ms`,
  );
  return { pollers, subscribers: subscribed, completion };
}

async function measureSizes(
  ctx: Context,
  stack: BenchStack,
  sizeIds: string[],
  options: BenchOptions,
): Promise<SizeRun[]> {
  const runs: SizeRun[] = [];
  for (const [index, size] of SIZES.entries()) {
    const id = sizeIds[index] ?? "";
    const target = {
      origin: stack.proxy.url,
      paths: [`/jobs/${id}`],
      headers: { Authorization: `Bearer ${DEV_API_KEY}` },
      worker: stack.proxy,
      jobIds: [id],
    };
    const url = `${target.origin}${target.paths[0]}`;
    await probeUntilHit(url, target.headers);
    if (options.warmupS > 0) await measure(ctx, target, Math.min(options.warmupS, 1));
    const sample = await measure(ctx, target, options.sizeDurationS);
    const after = await probe(url, target.headers);
    log(`${size.label} result, hit path: ${sample.run.requests} requests, ${after.xCache}`);
    runs.push({ ...size, sample, probe: after });
  }
  return runs;
}

function writeOutputs(outDir: string, results: Results): void {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(
    join(outDir, "RESULTS.md"),
    keepFarStorageSection(outDir, renderResultsMarkdown(results)),
  );
  writeFileSync(join(outDir, "chart.svg"), renderChart(results));
  log(`wrote ${outDir}/results.json, ${outDir}/RESULTS.md and ${outDir}/chart.svg`);
}

process.exit(await main());
