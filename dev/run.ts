/**
 * `npm run dev`: the proxy under `wrangler dev` against the bundled fake Waveline, offline, with
 * no login. Vars come from `.dev.vars`, created from `.dev.vars.example` on the first run.
 */
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { parseEnv } from "node:util";
import { SEEDED_JOB_IDS } from "./fake-waveline";
import { startDevStack } from "./stack";

// The end-to-end test points these elsewhere, so that it never touches a developer's own setup.
const varsFile = process.env.DEV_VARS_FILE ?? ".dev.vars";
const port = Number(process.env.PORT ?? 8787);
const persistTo = process.env.DEV_PERSIST_TO;

if (!existsSync(varsFile)) {
  copyFileSync(".dev.vars.example", varsFile);
  console.log(`created ${varsFile} from .dev.vars.example (git-ignored; edit it freely)`);
}
const vars = parseEnv(readFileSync(varsFile, "utf8")) as Record<string, string>;

const stack = await startDevStack({
  vars,
  envFile: varsFile === ".dev.vars" ? undefined : varsFile,
  proxyPort: port,
  persistTo,
  inheritOutput: true,
});
const shutdown = async () => {
  await stack.stop();
  process.exit(0);
};
process.once("SIGINT", shutdown);
process.once("SIGTERM", shutdown);

console.log(`
Waveline proxy on ${stack.proxyUrl}${stack.fake ? ` (fake Waveline on ${stack.fake.baseUrl})` : ""}
Try it:

  curl -H "Authorization: Bearer ${vars.ADMIN_TOKEN}" ${stack.proxyUrl}/jobs/${SEEDED_JOB_IDS.completed}

Ctrl-C stops both.
`);
