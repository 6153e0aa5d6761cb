/**
 * `npm run size`: bundles the Worker as `wrangler deploy` would (without deploying or logging in)
 * and fails when the gzipped script passes the budget. Cold starts grow with script size.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_KIB = 64;
const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
const outdir = mkdtempSync(join(tmpdir(), "waveline-size-"));

try {
  execFileSync(
    process.execPath,
    [wrangler, "deploy", "--dry-run", "--minify", "--outdir", outdir],
    {
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const script = readdirSync(outdir).find((name) => name.endsWith(".js"));
  if (!script) throw new Error(`no bundle in ${outdir}`);
  const bytes = readFileSync(join(outdir, script));
  const gzipKib = gzipSync(bytes, { level: 9 }).length / 1024;
  const line = `bundle: ${(bytes.length / 1024).toFixed(1)} KiB, gzip: ${gzipKib.toFixed(1)} KiB (budget ${BUDGET_KIB} KiB)`;
  if (gzipKib > BUDGET_KIB) {
    console.error(`${line}: over budget`);
    process.exitCode = 1;
  } else {
    console.log(line);
  }
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
