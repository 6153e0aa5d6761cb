/**
 * The proxy on Deno: `deno run … src/platform/deno/server.ts --port N --env-file FILE --data DIR
 * [--host H]` (`npm run start:deno -- …`). The same app as the Worker's serves every request,
 * over this runtime's services (./runtime.ts); this file gives it the client's address, and drains
 * on a signal.
 */
import { readFileSync } from "node:fs";
import { parseArgs, parseEnv } from "node:util";
import { openRuntime } from "./runtime.ts";

const USAGE = `usage: npm run start:deno -- --port N --data DIR [--env-file FILE] [--host 127.0.0.1]
    [--client-address-header NAME]   behind a reverse proxy: the header it sets to the client's
                                     address (it must overwrite any the client sent)`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    "env-file": { type: "string" },
    data: { type: "string" },
    "client-address-header": { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (values.help || !values.port || !values.data) {
  console.error(USAGE);
  Deno.exit(values.help ? 0 : 2);
}

// The variables `.dev.vars` names, from the file; without one, from the process environment.
const vars = values["env-file"]
  ? (parseEnv(readFileSync(values["env-file"], "utf8")) as Record<string, string>)
  : Deno.env.toObject();

const runtime = openRuntime({ dataDir: values.data, vars });
const { app, waitUntil } = runtime;

const addressHeader = values["client-address-header"];
const stopping = new AbortController();
const server = Deno.serve(
  {
    hostname: values.host,
    port: Number(values.port),
    signal: stopping.signal,
    onListen: ({ hostname, port }) =>
      console.log(
        JSON.stringify({
          level: "info",
          msg: "proxy listening",
          url: `http://${hostname}:${port}`,
          data: values.data,
          migrationsApplied: runtime.appliedMigrations,
          alarmsRearmed: runtime.rearmedAlarms,
        }),
      ),
  },
  (request, info) => {
    // The peer, or what the operator's reverse proxy says it is; never a header the client chose.
    const clientAddress = () =>
      (addressHeader ? request.headers.get(addressHeader)?.trim() : undefined) ||
      (info.remoteAddr as Deno.NetAddr).hostname;
    return app.fetch(request, { waitUntil, clientAddress });
  },
);

let shuttingDown = false;
async function shutdown(signal: string) {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(JSON.stringify({ level: "info", msg: "shutting down", signal }));
  stopping.abort();
  // Open event streams would hold the server for minutes: they get a few seconds, then end.
  await Promise.race([server.finished, new Promise((resolve) => setTimeout(resolve, 3000))]);
  await runtime.close(30_000);
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", () => void shutdown("SIGINT"));
Deno.addSignalListener("SIGTERM", () => void shutdown("SIGTERM"));
