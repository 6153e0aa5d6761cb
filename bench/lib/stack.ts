/**
 * Everything the targets need, started once per run: the four Workers bundled as `wrangler deploy`
 * would bundle them, the fake Waveline, and one runtime process per Worker (Miniflare or
 * `wrangler dev`), all on 127.0.0.1 with state in a temp dir (a developer's `.wrangler/state` is
 * never touched).
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEV_API_KEY } from "../../dev/seed";
import { prepareLocalDatabase } from "../../dev/stack";
import { bundleWorker, type WorkerBundle } from "../../scripts/bundle";
import {
  type FakeProcess,
  type Runtime,
  startFake,
  startWorker,
  type WorkerdProcess,
  type WorkerProcess,
} from "./processes";

export const WAVELINE_KEY = "bench-waveline-key";
export const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef01";
const SIGNING_KEYS = '[{"kid":"bench-1","secret":"bench-only-signing-secret-0123456789abcdef"}]';

export interface BenchStack {
  fake: FakeProcess;
  floor: WorkerdProcess;
  naive: WorkerProcess;
  /** The naive caching proxy: a static token, terminal jobs in KV (bench/naive-cache). */
  naiveCache: WorkerProcess;
  /** The proxy as configured in wrangler.toml: pending cache on (2000 ms). */
  proxy: WorkerProcess;
  /** The same bundle with PENDING_CACHE_TTL_MS=0: every read of a running job goes upstream. */
  proxyNoPending: WorkerProcess;
  /** The same bundle with METRICS_ENABLED=false: the hit path without its per-tenant counters. */
  proxyNoMetrics: WorkerProcess;
  /**
   * The proxy as two Workers of one Miniflare instance (`url` and `twinUrl`) sharing its Durable
   * Objects, D1 and KV, as two Cloudflare locations do: what the job watcher's figures read.
   * Always under Miniflare, whatever the runtime of the others; only when asked for.
   */
  pair: PairProcess | undefined;
  bundles: Record<"proxy" | "floor" | "naive" | "naive-cache", WorkerBundle>;
  /** The vars and secrets file every Worker reads. */
  envFile: string;
  /** PENDING_CACHE_TTL_MS of `proxy`. */
  pendingCacheTtlMs: number;
}

export type PairProcess = WorkerProcess & { twinUrl: string };

export async function startBenchStack(
  workDir: string,
  options: {
    runtime: Runtime;
    latencyMs: number;
    minify: boolean;
    proxyDefine?: Record<string, string>;
    /**
     * Run the proxy with its `[assets]` (the /docs and /demo pages) as Miniflare runs them: an
     * assets router Worker in front of every request. Off by default (see bench/README.md).
     */
    assets?: boolean;
    /** Start the proxy pair too (the job watcher's figures). */
    pair?: boolean;
  },
  log: (line: string) => void,
): Promise<BenchStack> {
  const { latencyMs, minify } = options;
  const state = (name: string) => dirIn(workDir, `state-${name}`);

  const flags = `wrangler deploy --dry-run${minify ? " --minify" : ""}`;
  log(`bundling the four Workers (${flags}), preparing the local D1, starting the fake Waveline`);
  const bundle = (name: string, config?: string, define?: Record<string, string>) =>
    bundleWorker(dirIn(workDir, `bundle-${name}`), { config, minify, define });
  const [proxyBundle, floorBundle, naiveBundle, naiveCacheBundle, fake] = await Promise.all([
    bundle("proxy", undefined, options.proxyDefine),
    bundle("floor", "bench/floor/wrangler.toml"),
    bundle("naive", "bench/naive/wrangler.toml"),
    bundle("naive-cache", "bench/naive-cache/wrangler.toml"),
    startFake({ apiKey: WAVELINE_KEY, latencyMs }),
    prepareLocalDatabase(state("proxy")),
  ]);
  const vars = {
    WAVELINE_API_URL: fake.baseUrl,
    WAVELINE_API_KEY: WAVELINE_KEY,
    ADMIN_TOKEN,
    TOKEN_SIGNING_KEYS: SIGNING_KEYS,
  };
  const envFile = writeEnvFile(join(workDir, "bench.vars"), vars);
  // The naive caching proxy's one token is the demo tenant's key: the same header as the hit's.
  const naiveCacheEnvFile = writeEnvFile(join(workDir, "naive-cache.vars"), {
    WAVELINE_API_URL: fake.baseUrl,
    WAVELINE_API_KEY: WAVELINE_KEY,
    PROXY_TOKEN: DEV_API_KEY,
  });
  const noPendingEnvFile = writeEnvFile(join(workDir, "no-pending.vars"), {
    ...vars,
    PENDING_CACHE_TTL_MS: "0",
  });
  const noMetricsEnvFile = writeEnvFile(join(workDir, "no-metrics.vars"), {
    ...vars,
    METRICS_ENABLED: "false",
  });
  // The pair's streams of the same tenant outnumber STREAMS_PER_TENANT (100) for a moment: the
  // subscribers' row holds 100 open while the latency samples open theirs.
  const pairEnvFile = writeEnvFile(join(workDir, "pair.vars"), {
    ...vars,
    STREAMS_PER_TENANT: "1000",
  });
  // Other proxy processes get a copy: two workerd processes must not share one SQLite file.
  cpSync(state("proxy"), state("no-pending"), { recursive: true });
  cpSync(state("proxy"), state("no-metrics"), { recursive: true });
  if (options.pair) cpSync(state("proxy"), state("pair"), { recursive: true });

  log(
    `starting six Workers (${options.runtime === "miniflare" ? "Miniflare" : "wrangler dev"})` +
      (options.pair ? " and the proxy pair (two Workers, one Miniflare)" : ""),
  );
  const worker = async (name: string, script: string, config: string, extra: WorkerExtra) =>
    startWorker({
      name,
      runtime: extra.twin ? "miniflare" : options.runtime,
      twin: extra.twin,
      // The Worker's log lines are written, as production writes them, then deleted with the run.
      logFile: join(process.env.BENCH_LOG_DIR ?? workDir, `${name}.worker.log`),
      script,
      config,
      persistTo: extra.persistTo ?? state(name),
      envFile: extra.envFile,
      readyPath: extra.readyPath,
      ready: extra.ready,
      noAssets: config === "wrangler.toml" && !options.assets,
    });
  const isProxy = (response: Response) => response.headers.has("X-Request-Id");
  const [floor, naive, naiveCache, proxy, proxyNoPending, proxyNoMetrics, pair] = await Promise.all(
    [
      worker("floor", floorBundle.file, "bench/floor/wrangler.toml", {
        readyPath: "/jobs/x",
        ready: (response) => response.ok,
      }),
      worker("naive", naiveBundle.file, "bench/naive/wrangler.toml", {
        envFile,
        readyPath: "/",
        ready: (response) => response.status === 404,
      }),
      worker("naive-cache", naiveCacheBundle.file, "bench/naive-cache/wrangler.toml", {
        envFile: naiveCacheEnvFile,
        readyPath: "/",
        ready: (response) => response.status === 404,
      }),
      worker("proxy", proxyBundle.file, "wrangler.toml", {
        envFile,
        persistTo: state("proxy"),
        readyPath: "/health",
        ready: isProxy,
      }),
      worker("proxy-no-pending", proxyBundle.file, "wrangler.toml", {
        envFile: noPendingEnvFile,
        persistTo: state("no-pending"),
        readyPath: "/health",
        ready: isProxy,
      }),
      worker("proxy-no-metrics", proxyBundle.file, "wrangler.toml", {
        envFile: noMetricsEnvFile,
        persistTo: state("no-metrics"),
        readyPath: "/health",
        ready: isProxy,
      }),
      options.pair
        ? worker("proxy-pair", proxyBundle.file, "wrangler.toml", {
            envFile: pairEnvFile,
            persistTo: state("pair"),
            readyPath: "/health",
            ready: isProxy,
            twin: true,
          })
        : undefined,
    ],
  );
  if (pair && !pair.twinUrl) throw new Error("proxy-pair: no second Worker");
  return {
    fake,
    floor,
    naive,
    naiveCache,
    proxy,
    proxyNoPending,
    proxyNoMetrics,
    pair: pair?.twinUrl ? { ...pair, twinUrl: pair.twinUrl } : undefined,
    bundles: {
      proxy: proxyBundle,
      floor: floorBundle,
      naive: naiveBundle,
      "naive-cache": naiveCacheBundle,
    },
    envFile,
    pendingCacheTtlMs: configuredPendingTtlMs(),
  };
}

/** PENDING_CACHE_TTL_MS from wrangler.toml's [vars], as the proxy reads it (2000 when unset). */
function configuredPendingTtlMs(): number {
  const match = /^PENDING_CACHE_TTL_MS\s*=\s*"(\d+)"/m.exec(readFileSync("wrangler.toml", "utf8"));
  return match ? Number(match[1]) : 2000;
}

interface WorkerExtra {
  envFile?: string;
  persistTo?: string;
  readyPath: string;
  ready(response: Response): boolean;
  twin?: boolean;
}

export function dirIn(parent: string, name: string): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function writeEnvFile(file: string, vars: Record<string, string>): string {
  writeFileSync(
    file,
    Object.entries(vars)
      .map(([name, value]) => `${name}=${value}\n`)
      .join(""),
  );
  return file;
}
