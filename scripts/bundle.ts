/**
 * Bundles a Worker as `wrangler deploy` would, without deploying or logging in: the bundle
 * `npm run size` weighs and `npm run bench` runs.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { WRANGLER } from "../dev/stack";

/** The gzipped script's budget: cold starts grow with script size. */
export const BUNDLE_BUDGET_KIB = 76;

export interface WorkerBundle {
  /** The bundled script, ready for `wrangler dev --no-bundle`. */
  file: string;
  bytes: number;
  gzipBytes: number;
}

/**
 * Minified, as the size budget counts it; `config` defaults to ./wrangler.toml. `define` replaces
 * identifiers at build time (the benchmark's profiler turns `console.log` into a no-op with it).
 */
export async function bundleWorker(
  outdir: string,
  options: { config?: string; minify?: boolean; define?: Record<string, string> } = {},
): Promise<WorkerBundle> {
  const args = [WRANGLER, "deploy", "--dry-run", "--outdir", outdir];
  if (options.minify ?? true) args.push("--minify");
  if (options.config) args.push("--config", options.config);
  for (const [name, value] of Object.entries(options.define ?? {})) {
    args.push("--define", `${name}:${value}`);
  }
  const child = promisify(execFile)(process.execPath, args, {
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    maxBuffer: 16 * 1024 * 1024,
  });
  try {
    await child;
  } catch (err) {
    const { stderr, stdout } = err as { stderr?: string; stdout?: string };
    throw new Error(`wrangler deploy --dry-run failed:\n${stderr || stdout || String(err)}`);
  }
  const script = readdirSync(outdir).find((name) => name.endsWith(".js"));
  if (!script) throw new Error(`no bundle in ${outdir}`);
  const bytes = readFileSync(join(outdir, script));
  return {
    file: join(outdir, script),
    bytes: bytes.length,
    gzipBytes: gzipSync(bytes, { level: 9 }).length,
  };
}
