/**
 * `npm run lint:openapi`: public/openapi.json through Redocly's and Spectral's rules (redocly.yaml,
 * .spectral.yaml), failing on any error or warning, as third-party tools read the document as it
 * is. Spectral fails on warnings itself; Redocly only on errors, so its totals are read here.
 */
import { execFileSync, spawnSync } from "node:child_process";

const DOCUMENT = "public/openapi.json";

const redocly = spawnSync("npx", ["redocly", "lint", "--format=json", DOCUMENT], {
  encoding: "utf8",
  env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
});
const report = JSON.parse(redocly.stdout) as {
  totals: { errors: number; warnings: number };
  problems: { ruleId: string; message: string; location: { pointer: string }[] }[];
};
for (const problem of report.problems) {
  console.error(`redocly ${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer}`);
}
const { errors, warnings } = report.totals;
console.log(`redocly: ${errors} errors, ${warnings} warnings`);

let spectralFailed = false;
try {
  execFileSync("npx", ["spectral", "lint", "--fail-severity=warn", DOCUMENT], { stdio: "inherit" });
} catch {
  spectralFailed = true;
}
if (errors + warnings > 0 || spectralFailed) process.exit(1);
