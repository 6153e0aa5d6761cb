import type { Hono } from "hono";
import { createApp, unconfiguredApp } from "../../app";
import { readConfig } from "../../core/config";
import type { AppEnv } from "../../http/context";
import { cloudflareServices } from "./services";

export { CreationLedger } from "./objects/creation-ledger";
export { JobSettler } from "./objects/job-settler";
export { JobWatcher } from "./objects/job-watcher";
export { TenantMetrics } from "./objects/tenant-metrics";
export { TenantRateLimiter } from "./objects/tenant-rate-limiter";
export { WebhookOutbox } from "./objects/webhook-outbox";

/**
 * The Workers entry. The app and its services are built once per `env` object: once per isolate
 * in production (tests that pass other bindings get an app of their own).
 */
const apps = new WeakMap<Env, Hono<AppEnv>>();

export function appFor(env: Env): Hono<AppEnv> {
  let app = apps.get(env);
  if (!app) {
    const result = readConfig(env);
    app = result.ok
      ? createApp(cloudflareServices(env, result.config))
      : unconfiguredApp(result.problem);
    apps.set(env, app);
  }
  return app;
}

type Background = Pick<ExecutionContext, "waitUntil">;

/** For calls without a context: work after the answer simply runs on, untracked. */
const UNTRACKED: Background = { waitUntil: () => {} };

export const worker = {
  fetch(request: Request, env: Env, ctx: Background): Response | Promise<Response> {
    return appFor(env).fetch(request, {
      waitUntil: (promise) => ctx.waitUntil(promise),
      clientAddress: () => request.headers.get("CF-Connecting-IP") ?? undefined,
    });
  },
  /** Like Hono's `app.request`: a path or URL and init, for tests that call the Worker in-process. */
  request(
    input: string | URL | Request,
    init: RequestInit | undefined,
    env: object,
    ctx: Background = UNTRACKED,
  ): Response | Promise<Response> {
    const request =
      input instanceof Request && init === undefined ? input : new Request(input, init);
    return worker.fetch(request, env as Env, ctx);
  },
};

export default worker satisfies ExportedHandler<Env>;
