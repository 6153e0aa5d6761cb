import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { DENO_D1_EXECUTE, DENO_DEV_DATA, DENO_RUN, DENO_SERVER, denoBinary } from "./deno";
import { type FakeWaveline, startFakeWaveline } from "./fake-waveline";
import { devSeedSql } from "./seed";

/** Where the proxy runs: `wrangler dev` (workerd), or the Deno entry (src/platform/deno). */
export type Runtime = "workers" | "deno";

/** The proxy under `wrangler dev` or Deno and, where the vars point here, the fake Waveline. */
export interface DevStack {
  proxyUrl: string;
  fake: FakeWaveline | undefined;
  runtime: Runtime;
  /** The last lines the proxy's process printed, for error messages. */
  output(): string;
  /** Whether the proxy's process is still running. */
  alive(): boolean;
  stop(): Promise<void>;
}

export interface DevStackOptions {
  /** The Worker's vars and secrets, as `.dev.vars` would give them. */
  vars: Record<string, string>;
  /** File the proxy reads them from; without it, `.dev.vars`. */
  envFile?: string;
  proxyPort?: number;
  /** Where local state lives; defaults to `.wrangler/state` (Workers), `.wrangler/deno` (Deno). */
  persistTo?: string;
  /** Defaults to "workers". */
  runtime?: Runtime;
  /**
   * Deno only: take the client's address from this header, as behind a trusted reverse proxy
   * (`wrangler dev` always passes a client's CF-Connecting-IP through).
   */
  clientAddressHeader?: string;
  /** Stream the proxy's output to this terminal (`npm run dev`) instead of only keeping it. */
  inheritOutput?: boolean;
  fakeLatencyMs?: number;
  /** More environment for the proxy's process (Deno reads its OpenTelemetry settings there). */
  processEnv?: Record<string, string>;
}

/** wrangler's CLI, run with this Node (its package exports no `bin/` path: found beside package.json). */
export const WRANGLER = join(
  dirname(createRequire(import.meta.url).resolve("wrangler/package.json")),
  "bin/wrangler.js",
);

export const OFFLINE_ENV = {
  // Offline and quiet: no Request.cf download, no telemetry.
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
};

export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const runtime = options.runtime ?? "workers";
  if (runtime === "deno") await prepareDenoDatabase(options.persistTo ?? DENO_DEV_DATA);
  else await prepareLocalDatabase(options.persistTo);
  const fake = await startLocalFake(options);
  const proxyPort = options.proxyPort ?? (await freePort());
  const proxy =
    runtime === "deno"
      ? spawn(
          denoBinary(),
          [
            ...DENO_RUN,
            DENO_SERVER,
            "--port",
            String(proxyPort),
            "--env-file",
            options.envFile ?? ".dev.vars",
            "--data",
            options.persistTo ?? DENO_DEV_DATA,
            ...(options.clientAddressHeader
              ? ["--client-address-header", options.clientAddressHeader]
              : []),
          ],
          { env: { ...process.env, ...options.processEnv }, stdio: ["ignore", "pipe", "pipe"] },
        )
      : spawn(process.execPath, await wranglerDevArgs(options, proxyPort), {
          env: { ...process.env, ...OFFLINE_ENV, ...options.processEnv },
          stdio: ["ignore", "pipe", "pipe"],
        });
  const lines: string[] = [];
  for (const stream of [proxy.stdout, proxy.stderr]) {
    stream?.setEncoding("utf8").on("data", (chunk: string) => {
      if (options.inheritOutput) process.stdout.write(chunk);
      lines.push(...chunk.split("\n"));
      lines.splice(0, Math.max(0, lines.length - 200));
    });
  }
  const output = () => lines.join("\n");
  const stop = async () => {
    await stopProcess(proxy);
    await fake?.close();
  };

  const proxyUrl = `http://127.0.0.1:${proxyPort}`;
  try {
    await waitUntilHealthy(`${proxyUrl}/health`, proxy);
  } catch (err) {
    await stop();
    const name = runtime === "deno" ? "the Deno server" : "wrangler dev";
    throw new Error(`${name} did not start: ${(err as Error).message}\n${output()}`);
  }
  const alive = () => proxy.exitCode === null && proxy.signalCode === null;
  return { proxyUrl, fake, runtime, output, alive, stop };
}

async function wranglerDevArgs(options: DevStackOptions, proxyPort: number): Promise<string[]> {
  const args = [
    WRANGLER,
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(proxyPort),
    "--inspector-port",
    String(await freePort()),
    "--show-interactive-dev-session=false",
  ];
  if (options.envFile) args.push("--env-file", options.envFile);
  if (options.persistTo) args.push("--persist-to", options.persistTo);
  return args;
}

/** Applies D1 migrations to the local database, then the demo seed (both idempotent). */
export async function prepareLocalDatabase(persistTo?: string): Promise<void> {
  const persist = persistTo ? ["--persist-to", persistTo] : [];
  const run = (...args: string[]) =>
    promisify(execFile)(process.execPath, [WRANGLER, "d1", ...args, "--local", ...persist], {
      env: { ...process.env, ...OFFLINE_ENV, CI: "true" },
    });
  await run("migrations", "apply", "DB");
  const dir = mkdtempSync(join(tmpdir(), "waveline-seed-"));
  try {
    const file = join(dir, "seed.sql");
    writeFileSync(file, devSeedSql());
    await run("execute", "DB", "--file", file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The Deno runtime's data directory: migrations, then the demo seed (both idempotent). */
export async function prepareDenoDatabase(dataDir: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "waveline-seed-"));
  try {
    const file = join(dir, "seed.sql");
    writeFileSync(file, devSeedSql());
    await promisify(execFile)(denoBinary(), [
      ...DENO_RUN,
      DENO_D1_EXECUTE,
      "--data",
      dataDir,
      "--file",
      file,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts the fake only when WAVELINE_API_URL points at this machine: a real URL is left alone. */
async function startLocalFake(options: DevStackOptions): Promise<FakeWaveline | undefined> {
  const url = new URL(options.vars.WAVELINE_API_URL ?? "https://waveline.ai/api/v1");
  if (!["127.0.0.1", "localhost"].includes(url.hostname)) return undefined;
  return startFakeWaveline({
    apiKey: options.vars.WAVELINE_API_KEY ?? "",
    port: Number(url.port || 80),
    latencyMs: options.fakeLatencyMs,
    quiet: !options.inheritOutput,
  });
}

async function waitUntilHealthy(url: string, child: ChildProcess, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the proxy exited with code ${child.exitCode}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      // Any answer of the Worker's own (even a 503 for a broken config) means it is up.
      if (response.headers.has("X-Request-Id")) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no answer from ${url} within ${timeoutMs} ms`);
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
