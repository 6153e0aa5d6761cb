/**
 * The benchmark's child processes: the fake Waveline and one runtime host (Miniflare, or
 * `wrangler dev`) per target Worker. Each runs in its own process group, so stopping it stops its
 * workerd children too, and every one of them is stopped on exit, on error and on SIGINT/SIGTERM.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { appendFileSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, OFFLINE_ENV, WRANGLER } from "../../dev/stack";

export interface Managed {
  name: string;
  child: ChildProcess;
  /** The last lines it printed, for error messages. */
  output(): string;
}

const running = new Set<Managed>();
const SERVE_WORKER = fileURLToPath(new URL("serve-worker.ts", import.meta.url));
const STOP_GRACE_MS = 5000;

export function spawnManaged(
  name: string,
  args: string[],
  env: Record<string, string> = {},
  command = process.execPath,
) {
  const child = spawn(command, args, {
    env: { ...process.env, ...OFFLINE_ENV, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const lines: string[] = [];
  // BENCH_LOG_DIR=DIR keeps each process's whole output in DIR/NAME.log (for debugging a run).
  const logDir = process.env.BENCH_LOG_DIR;
  const logFile = logDir ? join(logDir, `${name.replaceAll(/\W+/g, "-")}.log`) : undefined;
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding("utf8").on("data", (chunk: string) => {
      if (logFile) appendFileSync(logFile, chunk);
      lines.push(...chunk.split("\n"));
      lines.splice(0, Math.max(0, lines.length - 100));
    });
  }
  const managed: Managed = { name, child, output: () => lines.join("\n") };
  running.add(managed);
  child.once("exit", () => running.delete(managed));
  return managed;
}

/** SIGTERM to the process group, SIGKILL after a grace period. */
export function stopManaged(managed: Managed): Promise<void> {
  const { child } = managed;
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    return Promise.resolve();
  }
  const pid = child.pid;
  return new Promise((resolve) => {
    const force = setTimeout(() => signalGroup(pid, "SIGKILL"), STOP_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(force);
      // workerd may outlive wrangler by a moment: the group goes with it.
      signalGroup(pid, "SIGKILL");
      resolve();
    });
    signalGroup(pid, "SIGTERM");
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map(stopManaged));
}

/**
 * Ctrl-C, kills and a deadline (nothing may hang) stop the children, remove the temp dir and exit.
 * Returns what to call when the run ends on its own.
 */
export function superviseRun(
  workDir: string,
  deadlineMs: number,
  log: (line: string) => void,
): () => void {
  const abort = (why: string, code: number) => {
    log(`${why}: stopping the benchmark's processes`);
    void stopAll().finally(() => {
      rmSync(workDir, { recursive: true, force: true });
      process.exit(code);
    });
  };
  const onSignal = (signal: NodeJS.Signals) => abort(signal, 130);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const watchdog = setTimeout(
    () => abort(`still running after ${deadlineMs / 1000} s`, 2),
    deadlineMs,
  );
  return () => {
    clearTimeout(watchdog);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
}

/** Up when `url` answers as `ready` says and the port is this process tree's own. */
export async function waitForHttp(
  managed: Managed,
  url: string,
  ready: (response: Response) => boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const port = Number(new URL(url).port);
  while (Date.now() < deadline) {
    if (managed.child.exitCode !== null) {
      throw new Error(`${managed.name} exited with code ${managed.child.exitCode}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (ready(response)) {
        // Someone else's server on a port we lost the race for must not pass for ours.
        if (!listensOn(managed, port)) {
          throw new Error(`${managed.name}: address already in use (${port}) by another program`);
        }
        return;
      }
    } catch (err) {
      if ((err as Error).message.includes("address already in use")) throw err;
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`${managed.name}: no answer from ${url} within ${timeoutMs} ms`);
}

export interface FakeProcess extends Managed {
  origin: string;
  baseUrl: string;
}

/** On a port of its own; another port if something else took that one meanwhile. */
export async function startFake(options: {
  apiKey: string;
  latencyMs: number;
}): Promise<FakeProcess> {
  return withPortRetries(async () => {
    const port = await claimPort();
    const args = ["--import", "tsx", "dev/fake-waveline.ts", "--quiet"];
    args.push("--port", String(port), "--key", options.apiKey);
    args.push("--latency", String(options.latencyMs));
    const managed = spawnManaged("fake Waveline", args);
    const origin = `http://127.0.0.1:${port}`;
    await waitOrExplain(managed, `${origin}/__control/health`, (response) => response.ok);
    return { ...managed, origin, baseUrl: `${origin}/api/v1` };
  });
}

/**
 * How a Worker runs: `miniflare` is workerd alone, its log lines written to a file by Miniflare's
 * process, outside the Worker's, as production ships them; `wrangler` is `wrangler dev`,
 * which puts a second workerd (its entry proxy) in front and parses every log line in Node.
 */
export type Runtime = "miniflare" | "wrangler";

export interface WorkerProcess extends Managed {
  url: string;
  port: number;
  /** "deno": the proxy or the floor on Deno (bench/lib/deno.ts), one process. */
  runtime: Runtime | "deno";
  /** The Worker's own output, under Miniflare. */
  logFile?: string;
  /** The runtime's DevTools endpoint for the Worker (CPU profiles: bench/profile.ts). */
  inspectorPort: number;
  /** The same Worker again in this instance, sharing its Durable Objects, D1 and KV (`twin`). */
  twinUrl?: string;
}

/** A Worker under workerd (Miniflare or wrangler dev), as startWorker starts it. */
export type WorkerdProcess = WorkerProcess & { runtime: Runtime };

export interface WorkerOptions {
  name: string;
  runtime: Runtime;
  /** A bundle from `bundleWorker`, run as it is. */
  script: string;
  config: string;
  persistTo: string;
  envFile?: string;
  /** Where the Worker's own output goes under Miniflare (default: discarded). */
  logFile?: string;
  /** Path whose answer says the Worker is up, and how to tell. */
  readyPath: string;
  ready(response: Response): boolean;
  /** Run the bundle twice in one Miniflare instance (bench/lib/serve-worker.ts --twin-port). */
  twin?: boolean;
  /** Leave out the config's `[assets]` (Miniflare only): no assets router in front. */
  noAssets?: boolean;
}

/**
 * A prebuilt bundle, run as it is: offline, no file watching of the sources (others may be editing
 * them). The Worker logs what it logs in production.
 */
export async function startWorker(options: WorkerOptions): Promise<WorkerdProcess> {
  if (options.twin && options.runtime !== "miniflare") {
    throw new Error(`${options.name}: two Workers in one instance need Miniflare`);
  }
  return withPortRetries(async () => {
    const [port, inspectorPort] = [await claimPort(), await claimPort()];
    const twinPort = options.twin ? await claimPort() : undefined;
    const args =
      options.runtime === "miniflare"
        ? miniflareArgs(options, port, inspectorPort, twinPort)
        : wranglerArgs(options, port, inspectorPort);
    const managed = spawnManaged(options.name, args);
    const url = `http://127.0.0.1:${port}`;
    await waitOrExplain(managed, `${url}${options.readyPath}`, options.ready);
    const twinUrl = twinPort === undefined ? undefined : `http://127.0.0.1:${twinPort}`;
    if (twinUrl) await waitOrExplain(managed, `${twinUrl}${options.readyPath}`, options.ready);
    const logFile = options.runtime === "miniflare" ? options.logFile : undefined;
    return { ...managed, url, port, inspectorPort, runtime: options.runtime, logFile, twinUrl };
  });
}

/** bench/lib/serve-worker.ts: Miniflare with the config's bindings and wrangler's state layout. */
function miniflareArgs(
  options: WorkerOptions,
  port: number,
  inspectorPort: number,
  twinPort: number | undefined,
): string[] {
  const args = ["--import", "tsx", SERVE_WORKER, "--script", options.script];
  args.push("--config", options.config, "--persist", options.persistTo);
  args.push("--port", String(port), "--inspector-port", String(inspectorPort));
  if (options.envFile) args.push("--env-file", options.envFile);
  if (options.logFile) args.push("--log-file", options.logFile);
  if (twinPort !== undefined) args.push("--twin-port", String(twinPort));
  if (options.noAssets) args.push("--no-assets");
  return args;
}

/** `wrangler dev --no-bundle`, wrangler's own output at warn level. */
function wranglerArgs(options: WorkerOptions, port: number, inspectorPort: number): string[] {
  const args = [WRANGLER, "dev", options.script, "--no-bundle", "--config", options.config];
  args.push("--ip", "127.0.0.1", "--port", String(port));
  args.push("--inspector-port", String(inspectorPort));
  // BENCH_WRANGLER_LOG_LEVEL=log shows the Worker's own log lines (for debugging a run).
  const logLevel = process.env.BENCH_WRANGLER_LOG_LEVEL ?? "warn";
  args.push("--persist-to", options.persistTo, "--log-level", logLevel);
  args.push("--show-interactive-dev-session=false");
  if (options.envFile) args.push("--env-file", options.envFile);
  return args;
}

async function waitOrExplain(
  managed: Managed,
  url: string,
  ready: (response: Response) => boolean,
): Promise<void> {
  try {
    await waitForHttp(managed, url, ready);
  } catch (err) {
    await stopManaged(managed);
    throw new Error(`${(err as Error).message}\n${managed.output()}`);
  }
}

// Ports: picked free, never handed out twice by this process, and picked again when another
// program took one between the pick and the listen (this machine is shared).
const claimed = new Set<number>();
const PORT_ATTEMPTS = 3;

export async function claimPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!claimed.has(port)) {
      claimed.add(port);
      return port;
    }
  }
}

export async function withPortRetries<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const inUse = /address already in use|EADDRINUSE/i.test((err as Error).message);
      if (!inUse || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// CPU time, from /proc: workerd exposes no per-request CPU time offline.

/**
 * Which process of a Worker's tree burns it: `runtime` the workerd running the Worker, `entry`
 * wrangler dev's second workerd in front of it, `host` the Node process (Miniflare or wrangler).
 */
export type CpuRole = "runtime" | "entry" | "host";
export type CpuTimes = Record<CpuRole, number>;

const CLOCK_TICKS = clockTicks();

function clockTicks(): number {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** CPU seconds (user + system) so far of each role in this worker's process tree. */
export function cpuOf(worker: WorkerProcess): CpuTimes {
  const times: CpuTimes = { runtime: 0, entry: 0, host: 0 };
  const root = worker.child.pid;
  if (root === undefined) return times;
  for (const pid of descendants(root)) {
    const seconds = cpuSecondsOf(pid);
    const command = commandOf(pid);
    if (seconds === undefined || command === undefined) continue;
    times[roleOf(command, worker)] += seconds;
  }
  return times;
}

/** Under wrangler dev, the workerd serving the port is its entry proxy; the other runs the Worker. */
function roleOf(command: string, worker: WorkerProcess): CpuRole {
  if (worker.runtime === "deno") return "runtime";
  if (!command.includes("workerd")) return "host";
  if (worker.runtime === "miniflare") return "runtime";
  return command.includes(`entry=127.0.0.1:${worker.port}`) ? "entry" : "runtime";
}

/** Whether a process of this tree has a listening TCP socket on 127.0.0.1:port. */
function listensOn(managed: Managed, port: number): boolean {
  const root = managed.child.pid;
  if (root === undefined) return false;
  const inodes = listeningInodes(port);
  return descendants(root).some((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
          return inodes.has(/^socket:\[(\d+)\]$/.exec(target)?.[1] ?? "");
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
}

/** Inodes of sockets listening on the port, from /proc/net/tcp (state 0A is LISTEN). */
function listeningInodes(port: number): Set<string> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === "0A" && fields[9]) {
      inodes.add(fields[9]);
    }
  }
  return inodes;
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const parent = statFields(pid)?.[1];
    if (parent === undefined) continue;
    children.set(Number(parent), [...(children.get(Number(parent)) ?? []), pid]);
  }
  const found = [root];
  for (let i = 0; i < found.length; i++) found.push(...(children.get(found[i] ?? -1) ?? []));
  return found;
}

/** Fields of /proc/PID/stat after the command name: state, ppid, ... (so utime is index 11). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

function cpuSecondsOf(pid: number): number | undefined {
  const fields = statFields(pid);
  if (!fields) return undefined;
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return undefined;
  }
}
