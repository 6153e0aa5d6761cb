/** The machine and versions a result was measured with: absolute numbers mean little without them. */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, cpus, loadavg, release, totalmem, type } from "node:os";

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  wrangler: string;
  miniflare: string;
  workerd: string;
  autocannon: string;
  /** 1-minute load average when the run started and when it ended: others' work skews results. */
  loadAverage: { start: number; end: number };
}

const require = createRequire(import.meta.url);

function versionOf(name: string): string {
  try {
    const file = require.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

export const loadAverageNow = () => Math.round((loadavg()[0] ?? 0) * 100) / 100;

export function describeMachine(loadAtStart: number): Machine {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    wrangler: versionOf("wrangler"),
    miniflare: versionOf("miniflare"),
    workerd: versionOf("workerd"),
    autocannon: versionOf("autocannon"),
    loadAverage: { start: loadAtStart, end: loadAverageNow() },
  };
}
