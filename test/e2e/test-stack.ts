import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEnv } from "node:util";
import {
  type DevStack,
  type DevStackOptions,
  freePort,
  type Runtime,
  startDevStack,
} from "../../dev/stack";

/**
 * The runtime the end-to-end suite talks to: `E2E_RUNTIME=deno` runs the same assertions against
 * the Deno server (vitest.config.ts has a project for each); anything else is `wrangler dev`.
 */
export const E2E_RUNTIME: Runtime = process.env.E2E_RUNTIME === "deno" ? "deno" : "workers";
/** How the suite names the server under test in its descriptions. */
export const SERVER_NAME = E2E_RUNTIME === "deno" ? "the Deno server" : "wrangler dev";

/**
 * A `.dev.vars` of the test's own (from .dev.vars.example, the fake Waveline on a free port, plus
 * overrides) in a temp dir, so end-to-end tests never touch a developer's setup or each other.
 */
export async function writeTestVars(
  workDir: string,
  overrides: Record<string, string> = {},
): Promise<{ file: string; vars: Record<string, string> }> {
  const file = join(workDir, "dev.vars");
  const base = readFileSync(".dev.vars.example", "utf8").replace(
    "127.0.0.1:8788",
    `127.0.0.1:${await freePort()}`,
  );
  const extra = Object.entries(overrides).map(([name, value]) => `${name}=${value}`);
  writeFileSync(file, [base, ...extra].join("\n"));
  return { file, vars: parseEnv(readFileSync(file, "utf8")) as Record<string, string> };
}

export interface TestStack extends DevStack {
  vars: Record<string, string>;
}

/**
 * `wrangler dev` (or the Deno server, see E2E_RUNTIME) and the fake Waveline as real processes,
 * with state in a temp dir.
 */
export async function startTestStack(
  overrides: Record<string, string> = {},
  {
    runtime = E2E_RUNTIME,
    clientAddressHeader,
    processEnv,
  }: Pick<DevStackOptions, "runtime" | "clientAddressHeader" | "processEnv"> = {},
): Promise<TestStack> {
  const workDir = mkdtempSync(join(tmpdir(), "waveline-e2e-"));
  const { file, vars } = await writeTestVars(workDir, overrides);
  const stack = await startDevStack({
    vars,
    envFile: file,
    persistTo: join(workDir, "state"),
    runtime,
    clientAddressHeader,
    processEnv,
  });
  return {
    ...stack,
    vars,
    async stop() {
      await stack.stop();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
