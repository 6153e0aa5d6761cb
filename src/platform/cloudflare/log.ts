import type { Logger } from "../../core/log";

/** Lines of no particular request, in the same JSON shape as a request's. */
export function isolateLog(fields: Record<string, unknown> = {}): Logger {
  const line = (level: string, msg: string, extra?: Record<string, unknown>) =>
    console.log(JSON.stringify({ level, msg, ...fields, ...extra }));
  return {
    info: (msg, extra) => line("info", msg, extra),
    warn: (msg, extra) => line("warn", msg, extra),
    error: (msg, extra) => line("error", msg, extra),
    alert: (msg, extra) => line("alert", msg, extra),
    annotate: () => {},
  };
}
