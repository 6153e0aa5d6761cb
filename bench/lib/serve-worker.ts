/**
 * `node --import tsx bench/lib/serve-worker.ts --script B --config C --port P --persist D
 * [--env-file F] [--log-file L] [--inspector-port I]`: one prebuilt Worker bundle in workerd through
 * Miniflare, with the bindings its wrangler config declares (the same conversion `wrangler dev`
 * uses) and local state in D (the layout `wrangler --persist-to D` writes). The Worker's console
 * output goes to L (or nowhere) as workerd writes it: nothing parses it on the way, as in
 * production, where logs leave the isolate without costing the Worker's machine anything more.
 * Prints "ready" once it answers.
 */
import { createWriteStream, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { parseArgs, parseEnv } from "node:util";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from "wrangler";

const { values } = parseArgs({
  options: {
    script: { type: "string" },
    config: { type: "string" },
    port: { type: "string" },
    persist: { type: "string" },
    "env-file": { type: "string" },
    "log-file": { type: "string" },
    "inspector-port": { type: "string" },
  },
});
const required = (name: keyof typeof values) => {
  const value = values[name];
  if (!value) throw new Error(`--${name} is required`);
  return value;
};

const config = resolve(required("config"));
const persist = resolve(required("persist"));
const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
const log = values["log-file"] ? createWriteStream(values["log-file"], { flags: "a" }) : undefined;

const miniflare = new Miniflare({
  host: "127.0.0.1",
  port: Number(required("port")),
  inspectorPort: values["inspector-port"] ? Number(values["inspector-port"]) : undefined,
  d1Persist: join(persist, "v3", "d1"),
  kvPersist: join(persist, "v3", "kv"),
  cachePersist: join(persist, "v3", "cache"),
  durableObjectsPersist: join(persist, "v3", "do"),
  handleRuntimeStdio(stdout: Readable, stderr: Readable) {
    for (const stream of [stdout, stderr]) {
      if (log) stream.pipe(log, { end: false });
      else stream.resume();
    }
  },
  workers: [
    {
      ...workerOptions,
      modules: true,
      scriptPath: resolve(required("script")),
      modulesRoot: dirname(resolve(required("script"))),
      // The config's [vars] and the env file, as `wrangler dev --env-file` reads them: never a
      // developer's .dev.vars, which the conversion above would add.
      bindings: { ...configVars(config), ...envFileVars(values["env-file"]) },
    },
  ],
});
await miniflare.ready;
console.log("ready");

const stop = () => {
  void miniflare.dispose().finally(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);

function envFileVars(file: string | undefined): Record<string, string> {
  return file ? (parseEnv(readFileSync(file, "utf8")) as Record<string, string>) : {};
}

function configVars(file: string): Record<string, unknown> {
  return { ...unstable_readConfig({ config: file }).vars };
}
