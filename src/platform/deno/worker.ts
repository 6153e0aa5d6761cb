/**
 * The Workers entry: its default export's `fetch`, and the Durable Object classes it exports
 * (by the `class_name`s wrangler.toml binds: ./runtime.ts looks each up).
 */
export interface WorkerModule {
  default: {
    fetch(request: Request, env: object, ctx: ExecutionContext): Response | Promise<Response>;
  };
  [className: string]: unknown;
}

export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
  props: Record<string, unknown>;
}

/**
 * The one place this runtime names the Workers entry (src/platform/cloudflare/worker.ts): on Deno
 * the same entry builds the same services, over this folder's adapters of its bindings. Imported by a computed specifier on
 * purpose: `deno check` then checks the Deno side only, and the Worker's code stays checked by
 * `tsc` against the Workers types it is written for.
 */
const WORKER_ENTRY = new URL("../cloudflare/worker.ts", import.meta.url).href;

export async function loadWorker(): Promise<WorkerModule> {
  return (await import(WORKER_ENTRY)) as WorkerModule;
}
