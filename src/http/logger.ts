import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { HonoEnv } from "../core/config";

type Fields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** Something an operator must act on, e.g. the upstream refusing our key. */
  alert(msg: string, fields?: Fields): void;
  /** Fields added to this request's closing log line. */
  annotate(fields: Fields): void;
}

/**
 * One JSON line per request (plus warnings as they happen), for Workers Logs and `wrangler tail`.
 * Callers pass only what they chose to log; nothing here reads headers, so no credential can slip in.
 */
export function requestLogger(): MiddlewareHandler<HonoEnv> {
  return async (c, next) => {
    const started = Date.now();
    const annotations: Fields = {};
    const line = (level: string, msg: string, fields?: Fields) =>
      console.log(JSON.stringify({ level, msg, requestId: c.get("requestId"), ...fields }));
    c.set("log", {
      info: (msg, fields) => line("info", msg, fields),
      warn: (msg, fields) => line("warn", msg, fields),
      error: (msg, fields) => line("error", msg, fields),
      alert: (msg, fields) => line("alert", msg, fields),
      annotate: (fields) => Object.assign(annotations, fields),
    });
    await next();
    line(c.res.status >= 500 ? "error" : "info", "request", {
      method: c.req.method,
      route: routePath(c),
      status: c.res.status,
      durationMs: Date.now() - started,
      ...annotations,
    });
  };
}
