/**
 * `node --import tsx bench/lib/serve-worker.ts --script B --config C --port P --persist D
 * [--env-file F] [--log-file L] [--inspector-port I] [--twin-port Q]`: one prebuilt Worker bundle
 * in workerd through Miniflare, with the bindings its wrangler config declares (the same
 * conversion `wrangler dev` uses) and local state in D (the layout `wrangler --persist-to D`
 * writes). The Worker's console output goes to L (or nowhere), line by line as Miniflare hands it
 * over: outside the Worker's isolate, as in production, where logs leave the isolate without
 * costing the Worker anything more. Prints "ready" once it answers.
 *
 * With --twin-port, the instance runs the bundle twice, as two Cloudflare locations would: the
 * second Worker (on Q, straight to it) binds the first one's Durable Objects (`scriptName`) and
 * the same D1 and KV, but has an isolate of its own. Neither has a Cache API then: Miniflare
 * gives every Worker of an instance the same one, which two locations never share.
 */
import { createWriteStream, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs, parseEnv } from "node:util";
import { convertV4MiniflareOptions, Miniflare, type V4WorkerOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from "wrangler";

/** The first Worker's name: the second binds its Durable Objects by it. */
const PRIMARY_NAME = "primary";
type DurableObjectDesignator = NonNullable<V4WorkerOptions["durableObjects"]>[string];

const { values } = parseArgs({
  options: {
    script: { type: "string" },
    config: { type: "string" },
    "no-assets": { type: "boolean" },
    port: { type: "string" },
    persist: { type: "string" },
    "env-file": { type: "string" },
    "log-file": { type: "string" },
    "inspector-port": { type: "string" },
    "twin-port": { type: "string" },
  },
});
const required = (name: keyof typeof values) => {
  const value = values[name];
  if (typeof value !== "string" || !value) throw new Error(`--${name} is required`);
  return value;
};

const config = resolve(required("config"));
const persist = resolve(required("persist"));
const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
const twinPort = values["twin-port"] ? Number(values["twin-port"]) : undefined;
const log = values["log-file"] ? createWriteStream(values["log-file"], { flags: "a" }) : undefined;

// --no-assets: the Worker without the config's [assets]. Under Miniflare the assets router is a
// Worker of its own in front of every request, on the same cores; on Cloudflare it runs in front
// of the Worker too, but on Cloudflare's side, not in the Worker's CPU time.
// The bundle is one module: the config's rules for others are moot, and Miniflare 5 refuses them.
const { assets: _assets, modulesRules: _rules, ...withoutAssets } = workerOptions;
const worker: V4WorkerOptions = {
  ...(values["no-assets"] ? withoutAssets : { ...withoutAssets, assets: workerOptions.assets }),
  modules: true,
  scriptPath: resolve(required("script")),
  modulesRoot: dirname(resolve(required("script"))),
  // The config's [vars] and the env file, as `wrangler dev --env-file` reads them: never a
  // developer's .dev.vars, which the conversion above would add.
  bindings: { ...configVars(config), ...envFileVars(values["env-file"]) },
};

// Miniflare 5 takes a new shape of options; wrangler still hands out the v4 one, and so does this.
const miniflare = new Miniflare(
  convertV4MiniflareOptions({
    host: "127.0.0.1",
    port: Number(required("port")),
    inspectorPort: values["inspector-port"] ? Number(values["inspector-port"]) : undefined,
    resourcePersistencePath: join(persist, "v3"),
    handleStructuredLogs(entry) {
      log?.write(`${entry.message}\n`);
    },
    workers: twinPort === undefined ? [worker] : [primary(worker), twin(worker, twinPort)],
  }),
);
await miniflare.ready;
console.log("ready");

const stop = () => {
  void miniflare.dispose().finally(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);

function primary(options: V4WorkerOptions): V4WorkerOptions {
  return { ...options, name: PRIMARY_NAME, cacheAPI: false };
}

/** The same Worker elsewhere: its own isolate, the primary's Durable Objects, D1 and KV. */
function twin(options: V4WorkerOptions, port: number): V4WorkerOptions {
  const durableObjects = Object.fromEntries(
    Object.entries<DurableObjectDesignator>(options.durableObjects ?? {}).map(
      ([binding, designator]) => [
        binding,
        typeof designator === "string"
          ? { className: designator, scriptName: PRIMARY_NAME }
          : { ...designator, scriptName: PRIMARY_NAME },
      ],
    ),
  );
  return {
    ...options,
    name: "twin",
    cacheAPI: false,
    durableObjects,
    unsafeDirectSockets: [{ host: "127.0.0.1", port }],
  };
}

function envFileVars(file: string | undefined): Record<string, string> {
  return file ? (parseEnv(readFileSync(file, "utf8")) as Record<string, string>) : {};
}

function configVars(file: string): V4WorkerOptions["bindings"] {
  return { ...unstable_readConfig({ config: file }).vars };
}
