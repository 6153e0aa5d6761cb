import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import type { Logger, RequestScope } from "../core/log";
import { NO_TRACES, type RequestTraces, type SpanAttributes } from "../core/traces";
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
 * The annotations a trace may carry, by their attribute names: an allow-list, so that a field
 * added to the log line later reaches no collector until someone decides it may.
 */
const SPAN_ATTRIBUTE_OF: Record<string, string> = {
  tenantId: "waveline.tenant.id",
  credential: "waveline.credential.kind",
  cache: "waveline.cache",
  upstreamCall: "waveline.upstream.call",
  upstreamStatus: "waveline.upstream.status_code",
  upstreamAttempts: "waveline.upstream.attempts",
  upstreamMs: "waveline.upstream.duration_ms",
  idempotency: "waveline.idempotency",
  watcher: "waveline.watcher",
  rateLimited: "waveline.rate_limited",
  budgetExhausted: "waveline.budget_exhausted",
};

/** What a request's span carries: its route, id, and the allowed annotations of its log line. */
export function spanAttributesOf(
  route: string,
  requestId: string,
  annotations: Fields = {},
): SpanAttributes {
  const attributes: SpanAttributes = {
    "http.route": route,
    "waveline.request_id": requestId,
    "waveline.upstream.called": typeof annotations.upstreamAttempts === "number",
  };
  for (const [field, value] of Object.entries(annotations)) {
    const name = SPAN_ATTRIBUTE_OF[field];
    if (name && ["string", "number", "boolean"].includes(typeof value)) {
      attributes[name] = value as string | number | boolean;
    }
  }
  return attributes;
}

/**
 * One JSON line per request (plus warnings as they happen), for Workers Logs and `wrangler tail`,
 * and the same facts on the runtime's span of the request (`traces`).
 * Callers pass only what they chose to log; nothing here reads headers, so no credential can slip in.
 */
export function requestLogger(traces: RequestTraces = NO_TRACES) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = Date.now();
    const requestId = c.get("requestId");
    const log = new RequestLog(requestId, c.env);
    c.set("log", log);
    c.set("scope", log);
    await next();
    const route = routePath(c);
    log.line(c.res.status >= 500 ? "error" : "info", "request", {
      method: c.req.method,
      route,
      status: c.res.status,
      durationMs: Date.now() - started,
      ...log.annotations,
    });
    traces.annotate(
      spanAttributesOf(route, requestId, log.annotations),
      `${c.req.method} ${route}`,
    );
  });
}
