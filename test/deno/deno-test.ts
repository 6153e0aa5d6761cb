import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { denoBinary } from "../../dev/deno";

/**
 * Runs a file of tests under Deno itself (`deno test`, from the lockfile's binary) with the
 * permissions and flags given, and answers its output; a failing run throws with it.
 */
export async function denoTest(
  file: string,
  flags: readonly string[],
  env: Record<string, string> = {},
): Promise<string> {
  const run = promisify(execFile)(
    denoBinary(),
    ["test", "--cached-only", "--allow-read", "--allow-write", "--allow-env", ...flags, file],
    { env: { ...process.env, NO_COLOR: "1", ...env }, maxBuffer: 16 * 1024 * 1024 },
  );
  try {
    return (await run).stdout;
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`deno test failed:\n${stdout ?? ""}\n${stderr ?? ""}`);
  }
}
