/**
 * `npm run bench:profile -- [--target hit] [--duration 5] [--connections 10] [--no-console]
 * [--save FILE]`:
 * one target of the benchmark under load while the Worker's isolate is CPU-profiled through
 * wrangler's DevTools endpoint. Prints where the Worker's CPU goes, by source module and by
 * function (the bundle is built unminified, so names are the source's). --save writes the raw
 * .cpuprofile for Chrome DevTools. With DevTools attached every console.log is also sent to it, so the
 * logger's share is overstated: --no-console builds the proxy with console.log a no-op, and
 * `--compare-logging` measures what console.log costs without a profiler.
 *
 * `npm run bench:profile -- --compare-logging [--rounds 4] [--duration 4] [--runtime miniflare]`:
 * the hit path of the proxy as built, against the same proxy built with `console.log` a no-op (the
 * JSON of each line is still built), interleaved, without any profiler: req/s, p50, and process
 * CPU per request, under wrangler dev (default) or Miniflare.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { prepareLocalDatabase } from "../dev/stack";
import { bundleWorker } from "../scripts/bundle";
import { giveToDemoTenant, raiseReadLimit } from "./lib/fixtures";
import { runLoad } from "./lib/load";
import { aggregate, measure, type Sample, type Target, type TargetName } from "./lib/measure";
import { startWorker, stopAll, superviseRun, type WorkerProcess } from "./lib/processes";
import { ADMIN_TOKEN, type BenchStack, dirIn, startBenchStack } from "./lib/stack";
import { type Jobs, prepareTargets } from "./lib/targets";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const TARGETS: TargetName[] = ["floor", "naive", "naive-cache", "hit", "miss", "token"];
/** Build-time define that makes console.log a no-op (its arguments are still evaluated). */
const QUIET_CONSOLE = { "console.log": "Function.prototype" };
const DEADLINE_MS = 180_000;
const log = (line: string) => console.error(`[profile] ${line}`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      target: { type: "string", default: "hit" },
      duration: { type: "string", default: "5" },
      connections: { type: "string", default: "10" },
      rounds: { type: "string", default: "4" },
      save: { type: "string" },
      "compare-logging": { type: "boolean" },
      "no-console": { type: "boolean" },
      runtime: { type: "string", default: "wrangler" },
    },
  });
  const name = values.target as TargetName;
  if (!TARGETS.includes(name)) throw new Error(`--target must be one of ${TARGETS.join(", ")}`);
  const settings = {
    durationS: bounded(values.duration, 1, 60),
    connections: bounded(values.connections, 1, 100),
    rounds: bounded(values.rounds, 1, 10),
  };
  const workDir = mkdtempSync(join(tmpdir(), "waveline-profile-"));
  const release = superviseRun(workDir, DEADLINE_MS, log);
  try {
    const compare = values["compare-logging"] ?? false;
    const runtime = values.runtime === "miniflare" ? "miniflare" : "wrangler";
    // Profiles go through wrangler's inspector proxy; the logging comparison runs under either.
    if (!compare && runtime !== "wrangler") throw new Error("profiles need --runtime wrangler");
    // The comparison runs what the benchmark runs (minified); the profile wants source names.
    // With DevTools attached, console.log also ships every line to it: --no-console profiles the
    // proxy built with console.log a no-op, so the rest of the hit path shows at its true share.
    const proxyDefine = values["no-console"] ? QUIET_CONSOLE : undefined;
    const stack = await startBenchStack(
      workDir,
      { runtime, latencyMs: 50, minify: compare, proxyDefine },
      log,
    );
    const prepared = await prepareTargets(stack, {
      connections: settings.connections,
      pollers: [],
    });
    if (compare) {
      console.log(await compareLogging(workDir, stack, prepared, settings));
    } else {
      console.log(await profileTarget(stack, prepared.targets, name, settings, values.save));
    }
    return 0;
  } finally {
    release();
    await stopAll();
    rmSync(workDir, { recursive: true, force: true });
  }
}

function bounded(raw: string | undefined, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`not a number: ${raw}`);
  return Math.min(max, Math.max(min, value));
}

interface Settings {
  durationS: number;
  connections: number;
  rounds: number;
}

async function profileTarget(
  stack: BenchStack,
  targets: Target[],
  name: TargetName,
  settings: Settings,
  save: string | undefined,
): Promise<string> {
  const target = targets.find((t) => t.name === name);
  if (!target?.worker) throw new Error(`no Worker behind ${name}`);
  const load = { ...target, connections: settings.connections, timeoutS: 10 };
  log(`warming up ${name}`);
  await runLoad({ ...load, durationS: 1 });
  const inspector = await connectInspector(target.worker.inspectorPort);
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: 200 });
  await inspector.send("Profiler.start");
  log(`profiling ${name} for ${settings.durationS} s at ${settings.connections} connections`);
  const run = await runLoad({ ...load, durationS: settings.durationS });
  const { profile } = (await inspector.send("Profiler.stop")) as { profile: CpuProfile };
  inspector.close();
  if (save) writeFileSync(save, JSON.stringify(profile));
  const isProxy = target.worker === stack.proxy || target.worker === stack.proxyNoPending;
  const bundle = isProxy ? readFileSync(stack.bundles.proxy.file, "utf8") : "";
  return report(profile, bundle, run.requests);
}

/** The same hit path with and without console.log, interleaved, nothing attached. */
async function compareLogging(
  workDir: string,
  stack: BenchStack,
  prepared: { jobs: Jobs; targets: Target[] },
  settings: Settings,
): Promise<string> {
  log("bundling the proxy with console.log a no-op and starting it");
  const quiet = await startQuietProxy(workDir, stack);
  await raiseReadLimit(quiet.url, ADMIN_TOKEN);
  await giveToDemoTenant(quiet.url, ADMIN_TOKEN, prepared.jobs.hitId);
  const hit = prepared.targets.find((t) => t.name === "hit");
  if (!hit) throw new Error("no hit target");
  const variants = [
    { label: "logging on (as built)", target: hit },
    { label: "console.log a no-op", target: { ...hit, origin: quiet.url, worker: quiet } },
  ];
  const ctx = {
    fakeOrigin: stack.fake.origin,
    connections: settings.connections,
    timeoutS: 10,
    settleMs: 150,
  };
  for (const variant of variants) await measure(ctx, variant.target, 1);
  const samples = variants.map(() => [] as Sample[]);
  for (let round = 1; round <= settings.rounds; round++) {
    for (const [index, variant] of variants.entries()) {
      samples[index]?.push(await measure(ctx, variant.target, settings.durationS));
      log(`round ${round}/${settings.rounds}: ${variant.label}`);
    }
  }
  const rows = variants.map((variant, index) => {
    const result = aggregate(samples[index] ?? []);
    const cpu = result.cpuUsPerRequest;
    return [
      variant.label,
      Math.round(result.reqPerSec).toString(),
      result.latencyMs.p50.toFixed(2),
      result.latencyMs.p99.toFixed(2),
      cpu ? cpu.runtime.toFixed(0) : "–",
      cpu ? cpu.entry.toFixed(0) : "–",
      cpu ? cpu.host.toFixed(0) : "–",
      String(result.non2xx + result.errors),
    ];
  });
  const header = ["variant", "req/s", "p50 ms", "p99 ms", "runtime µs/req", "entry µs/req"];
  header.push("host µs/req", "errors+non-2xx");
  return [header, header.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

async function startQuietProxy(workDir: string, stack: BenchStack): Promise<WorkerProcess> {
  const bundle = await bundleWorker(dirIn(workDir, "bundle-quiet"), { define: QUIET_CONSOLE });
  const persistTo = dirIn(workDir, "state-quiet");
  await prepareLocalDatabase(persistTo);
  return startWorker({
    name: "proxy-quiet",
    runtime: stack.floor.runtime,
    script: bundle.file,
    config: "wrangler.toml",
    persistTo,
    envFile: stack.envFile,
    readyPath: "/health",
    ready: (response) => response.headers.has("X-Request-Id"),
    // Like the proxy it is compared with (bench/lib/stack.ts): no assets router in front.
    noAssets: true,
  });
}

interface Inspector {
  send(method: string, params?: object): Promise<unknown>;
  close(): void;
}

/** wrangler's inspector proxy wants a local Origin; one DevTools client at a time. */
async function connectInspector(port: number): Promise<Inspector> {
  const init = { headers: { Origin: "http://127.0.0.1" } } as unknown as string[];
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, init);
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 0;
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number;
      result?: unknown;
      error?: unknown;
    };
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiter || message.id === undefined) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(JSON.stringify(message.error)));
    else waiter.resolve(message.result);
  });
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error("inspector refused")), { once: true });
  });
  return {
    send(method, params = {}) {
      const id = ++nextId;
      socket.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        setTimeout(() => reject(new Error(`${method}: no answer`)), 30_000).unref();
      });
    },
    close: () => socket.close(),
  };
}

/** Bundle line → source module, from esbuild's `// src/...` markers (unminified bundles). */
function moduleIndex(bundle: string): (line: number) => string {
  const markers: { line: number; module: string }[] = [];
  bundle.split("\n").forEach((text, line) => {
    const match = /^\/\/ ((?:src|node_modules)\/\S+)$/.exec(text);
    if (match?.[1]) markers.push({ line, module: match[1].replace(/^node_modules\//, "") });
  });
  return (line) => {
    let found = "(bundle)";
    for (const marker of markers) {
      if (marker.line > line) break;
      found = marker.module;
    }
    return found;
  };
}

function report(profile: CpuProfile, bundle: string, requests: number): string {
  const moduleOf = bundle ? moduleIndex(bundle) : () => "(worker)";
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (frame: CallFrame) => {
    const where = frame.url ? moduleOf(frame.lineNumber) : "(native)";
    return { where, fn: `${frame.functionName || "(anonymous)"} [${where}]` };
  };

  const self = new Map<string, number>();
  const inclusiveModule = new Map<string, number>();
  const inclusiveFn = new Map<string, number>();
  let busy = 0;
  let total = 0;
  profile.samples.forEach((id, index) => {
    const us = profile.timeDeltas[index] ?? 0;
    total += us;
    const leaf = byId.get(id);
    if (!leaf || ["(idle)", "(program)"].includes(leaf.callFrame.functionName)) return;
    busy += us;
    add(self, label(leaf.callFrame).fn, us);
    const seenModules = new Set<string>();
    const seenFns = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame || frame.functionName === "(root)") continue;
      const { where, fn } = label(frame);
      seenModules.add(where);
      seenFns.add(fn);
    }
    for (const where of seenModules) add(inclusiveModule, where, us);
    for (const fn of seenFns) add(inclusiveFn, fn, us);
  });
  const perRequest = (us: number) => (requests ? `${(us / requests).toFixed(1)} µs/req` : "");
  const top = (map: Map<string, number>, count: number, filter = (_: string) => true) =>
    [...map.entries()]
      .filter(([key]) => filter(key))
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([key, us]) => `  ${pct(us, busy)}  ${perRequest(us).padStart(14)}  ${key}`)
      .join("\n");
  return [
    `requests: ${requests}; isolate busy ${pct(busy, total)} of the profile (${perRequest(busy)})`,
    "",
    "Inclusive, by module (share of busy time):",
    top(inclusiveModule, 25),
    "",
    "Inclusive, by function of src/:",
    top(inclusiveFn, 30, (key) => key.includes("[src/")),
    "",
    "Self time, by function:",
    top(self, 30),
  ].join("\n");
}

function add(map: Map<string, number>, key: string, value: number): void {
  map.set(key, (map.get(key) ?? 0) + value);
}

function pct(part: number, whole: number): string {
  return `${whole ? ((part / whole) * 100).toFixed(1) : "0.0"}%`.padStart(6);
}

process.exit(await main());
