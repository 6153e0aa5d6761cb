import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);

/**
 * The Deno binary the `deno` devDependency installed: the platform package's own file, so that
 * signals reach Deno itself (node_modules/.bin/deno may be a Node wrapper until its first run).
 */
export function denoBinary(): string {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  const platform =
    process.platform === "linux" ? `linux-${arch}-glibc` : `${process.platform}-${arch}`;
  try {
    const binary = join(dirname(require.resolve(`@deno/${platform}/package.json`)), "deno");
    if (existsSync(binary)) return binary;
  } catch {
    // not this platform's package: fall back to npm's bin entry
  }
  return join(dirname(require.resolve("deno/package.json")), "..", ".bin", "deno");
}

/** What `deno run` needs for the proxy: offline (node_modules only), nothing beyond files and net. */
export const DENO_RUN = [
  "run",
  "--cached-only",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
];

export const DENO_SERVER = "src/platform/deno/server.ts";
export const DENO_D1_EXECUTE = "src/platform/deno/d1-execute.ts";
/** Where `npm run dev:deno` keeps its state, as `npm run dev` keeps wrangler's in .wrangler/state. */
export const DENO_DEV_DATA = ".wrangler/deno";
