/**
 * One load run: autocannon at a fixed number of connections for a fixed time, every response's
 * latency kept (autocannon's own histogram counts whole milliseconds; the hit path takes less).
 */
import autocannon from "autocannon";

export interface LoadSpec {
  /** Origin, e.g. http://127.0.0.1:8787 */
  origin: string;
  /** One path per connection, round-robin: connection i requests paths[i % paths.length]. */
  paths: string[];
  headers: Record<string, string>;
  connections: number;
  durationS: number;
  /** Per request, in seconds: a request slower than this counts as an error. */
  timeoutS: number;
}

export interface LoadRun {
  requests: number;
  durationS: number;
  /** Every response's latency in ms, in arrival order. */
  latenciesMs: Float64Array;
  bytes: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
}

/** Past duration + this, the run is stopped whatever autocannon thinks. */
const HARD_STOP_GRACE_MS = 15_000;

export function runLoad(spec: LoadSpec): Promise<LoadRun> {
  if (!spec.origin.startsWith("http://127.0.0.1:")) {
    return Promise.reject(new Error(`refusing a non-local target: ${spec.origin}`));
  }
  let next = 0;
  let latencies = new Float64Array(65_536);
  let count = 0;
  let bytes = 0;
  const started = performance.now();
  return new Promise<LoadRun>((resolve, reject) => {
    let hardStop: ReturnType<typeof setTimeout> | undefined;
    const instance = autocannon(
      {
        url: spec.origin,
        connections: spec.connections,
        duration: spec.durationS,
        // autocannon checks for the end of a run once per sample: 1 s by default.
        sampleInt: 100,
        timeout: spec.timeoutS,
        setupClient: (client) => {
          const path = spec.paths[next++ % spec.paths.length] ?? "/";
          client.setRequests([{ method: "GET", path, headers: spec.headers }]);
        },
      },
      (err, result) => {
        clearTimeout(hardStop);
        if (err) return reject(err);
        resolve({
          requests: count,
          durationS: result.duration || (performance.now() - started) / 1000,
          latenciesMs: latencies.slice(0, count),
          bytes,
          errors: result.errors,
          timeouts: result.timeouts,
          non2xx: result.non2xx,
          statusCodes: Object.fromEntries(
            Object.entries(result.statusCodeStats).map(([code, stat]) => [code, stat.count]),
          ),
        });
      },
    );
    hardStop = setTimeout(
      () => {
        instance.stop();
        reject(new Error(`load on ${spec.origin} did not stop within ${spec.durationS} s + grace`));
      },
      spec.durationS * 1000 + HARD_STOP_GRACE_MS,
    );
    instance.on("response", (_client, _status, resBytes, responseTime) => {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = responseTime;
      bytes += resBytes;
    });
  });
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles over every latency of the given runs. */
export function summarise(runs: Float64Array[]): LatencySummary {
  const total = runs.reduce((sum, run) => sum + run.length, 0);
  const all = new Float64Array(total);
  let at = 0;
  for (const run of runs) {
    all.set(run, at);
    at += run.length;
  }
  all.sort();
  const rank = (p: number) => all[Math.min(total - 1, Math.max(0, Math.ceil(p * total) - 1))] ?? 0;
  const sum = all.reduce((s, v) => s + v, 0);
  return {
    p50: rank(0.5),
    p90: rank(0.9),
    p99: rank(0.99),
    max: total ? (all[total - 1] ?? 0) : 0,
    mean: total ? sum / total : 0,
  };
}
