/**
 * `npm run dev`: the proxy under `wrangler dev` against the bundled fake Waveline, offline, with
 * no login. Vars come from `.dev.vars`, created from `.dev.vars.example` on the first run.
 * `npm run dev:deno` (`--deno`): the same, with the proxy on Deno (src/platform/deno).
 */
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { parseEnv } from "node:util";
import { SEEDED_JOB_IDS } from "./fake-waveline";
import { DEV_API_KEY, DEV_ORIGINS, DEV_TENANT_ID } from "./seed";
import { freePort, startDevStack } from "./stack";
import { startWebhookReceiver } from "./webhook-receiver";

// The end-to-end test points these elsewhere, so that it never touches a developer's own setup.
const varsFile = process.env.DEV_VARS_FILE ?? ".dev.vars";
const port = Number(process.env.PORT ?? 8787);
const persistTo = process.env.DEV_PERSIST_TO;
const runtime = process.argv.includes("--deno") ? "deno" : "workers";

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
  runtime,
  inheritOutput: true,
});
// A local receiver for webhooks: it logs what arrives (verify signatures with the secret you got).
const receiver = await startWebhookReceiver({
  port: port === 8787 ? 8789 : await freePort(),
  onDelivery: (name, delivery) => {
    const event = JSON.parse(delivery.body) as { type?: string; data?: { id?: string } };
    const signatures = delivery.headers["webhook-signature"]?.split(" ").length ?? 0;
    console.log(
      `webhook ${name}: ${event.type} for job ${event.data?.id} (webhook-id ${delivery.headers["webhook-id"]}, ${signatures} signature(s))`,
    );
  },
});
const shutdown = async () => {
  await Promise.all([stack.stop(), receiver.close()]);
  process.exit(0);
};
process.once("SIGINT", shutdown);
process.once("SIGTERM", shutdown);

const url = stack.proxyUrl;
const key = `-H "Authorization: Bearer ${DEV_API_KEY}"`;
const json = `-H "Content-Type: application/json"`;
const document = JSON.stringify({
  fileName: "invoice.txt",
  contentType: "text/plain",
  content: "Invoice INV-7 from Acme, total 42.50 EUR",
  shape: [
    { name: "invoiceNumber", type: "string" },
    { name: "total", type: "number" },
  ],
});

const demoLine =
  vars.DEMO_ENABLED === "true"
    ? `Try it in a browser: ${url}/demo`
    : `The demo page ${url}/demo is off: set DEMO_ENABLED=true in ${varsFile} to serve it.`;
const consoleLine =
  vars.CONSOLE_ENABLED === "true"
    ? `The console: ${url}/console (sign in with ADMIN_TOKEN from ${varsFile} and open "demo", or with the
demo API key; its traffic chart shows the lines above within about ${Math.ceil(Number(vars.METRICS_FLUSH_MS ?? 5000) / 1000) + 5} s)`
    : `The console ${url}/console is off: set CONSOLE_ENABLED=true in ${varsFile} to serve it.`;

console.log(`
Waveline proxy on ${url}${runtime === "deno" ? ", on Deno" : ""}${stack.fake ? ` (fake Waveline on ${stack.fake.baseUrl})` : ""}
Demo tenant "demo": API key ${DEV_API_KEY}, browser origins ${DEV_ORIGINS.join(", ")}

Read a finished job:
  curl ${key} ${url}/jobs/${SEEDED_JOB_IDS.completed}

Create a job, then poll the urls.get it answers (the fake finishes jobs in about 3 s); send the
same Idempotency-Key again and you get the same job back, not a second one:
  curl ${key} ${json} -H "Idempotency-Key: ${crypto.randomUUID()}" -d '${document}' ${url}/extract-document

Mint a browser token (15 minutes, read-only):
  curl ${key} ${json} -d '{"scopes":["jobs:read"]}' ${url}/tokens

List the tenant's jobs:
  curl ${key} ${url}/jobs

Register the local webhook receiver (answers with its secret; jobs created next are delivered to it,
and this terminal logs them)${vars.WEBHOOKS_ALLOW_LOCAL_URLS === "true" ? "" : ` - first set WEBHOOKS_ALLOW_LOCAL_URLS=true in ${varsFile}`}:
  curl ${key} ${json} -d '{"url":"${receiver.origin}/hooks/dev"}' ${url}/webhooks

${demoLine}
${consoleLine}

For the README's operator examples (page budgets, the admin API):
  export TENANT_ID=${DEV_TENANT_ID} TENANT_API_KEY=${DEV_API_KEY} ADMIN_TOKEN="$(sed -n 's/^ADMIN_TOKEN=//p' ${varsFile})"

Operators: npm run admin -- --help    Ctrl-C stops everything.
`);
