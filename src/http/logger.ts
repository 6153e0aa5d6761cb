import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import type { Logger, RequestScope } from "../core/log";
import type { AppEnv, RequestPlatform } from "./context";

type Fields = Record<string, unknown>;

/** One request's logger, and its scope for the services it calls: one object per request. */
class RequestLog implements Logger, RequestScope {
  readonly log: Logger = this;
  annotations: Fields | undefined;
  constructor(
    private readonly requestId: string,
    private readonly platform: RequestPlatform,
  ) {}
  line(level: string, msg: string, fields?: Fields) {
    console.log(JSON.stringify({ level, msg, requestId: this.requestId, ...fields }));
  }
  info(msg: string, fields?: Fields) {
    this.line("info", msg, fields);
  }
  warn(msg: string, fields?: Fields) {
    this.line("warn", msg, fields);
  }
  error(msg: string, fields?: Fields) {
    this.line("error", msg, fields);
  }
  alert(msg: string, fields?: Fields) {
    this.line("alert", msg, fields);
  }
  annotate(fields: Fields) {
    this.annotations = Object.assign(this.annotations ?? {}, fields);
  }
  waitUntil(promise: Promise<unknown>) {
    this.platform.waitUntil(promise);
  }
}

/**
 * One JSON line per request (plus warnings as they happen), for Workers Logs and `wrangler tail`.
 * Callers pass only what they chose to log; nothing here reads headers, so no credential can slip in.
 */
export const requestLogger = createMiddleware<AppEnv>(async (c, next) => {
  const started = Date.now();
  const log = new RequestLog(c.get("requestId"), c.env);
  c.set("log", log);
  c.set("scope", log);
  await next();
  log.line(c.res.status >= 500 ? "error" : "info", "request", {
    method: c.req.method,
    route: routePath(c),
    status: c.res.status,
    durationMs: Date.now() - started,
    ...log.annotations,
  });
});
