/**
 * `wrangler d1 migrations apply` and `wrangler d1 execute --file` for the Deno runtime's data
 * directory: `deno run … src/platform/deno/d1-execute.ts --data DIR [--file FILE]`.
 * Refuses while a proxy process holds the directory.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { lockDataDir, makeDataDirPrivate, openDatabase } from "./runtime.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { data: { type: "string" }, file: { type: "string" } },
});
if (!values.data) {
  console.error("usage: d1-execute.ts --data DIR [--file FILE.sql]");
  Deno.exit(2);
}
const lock = lockDataDir(values.data);
makeDataDirPrivate(values.data);
const { db, applied } = openDatabase(values.data);
if (applied.length > 0) console.log(`migrations applied: ${applied.join(", ")}`);
if (values.file) db.exec(readFileSync(values.file, "utf8"));
db.close();
lock.close();
