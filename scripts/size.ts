/**
 * `npm run size`: bundles the Worker as `wrangler deploy` would (without deploying or logging in)
 * and fails when the gzipped script passes the budget. Cold starts grow with script size.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUNDLE_BUDGET_KIB, bundleWorker } from "./bundle";

const outdir = mkdtempSync(join(tmpdir(), "waveline-size-"));

try {
  const { bytes, gzipBytes } = await bundleWorker(outdir);
  const gzipKib = gzipBytes / 1024;
  const line = `bundle: ${(bytes / 1024).toFixed(1)} KiB, gzip: ${gzipKib.toFixed(1)} KiB (budget ${BUNDLE_BUDGET_KIB} KiB)`;
  if (gzipKib > BUNDLE_BUDGET_KIB) {
    console.error(`${line}: over budget`);
    process.exitCode = 1;
  } else {
    console.log(line);
  }
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
