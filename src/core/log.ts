import type { RequestCounter } from "./metrics/tally";

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
 * What one request hands the long-lived services it calls: its logger, and the runtime's way to
 * finish work after the answer has gone (Workers' `waitUntil`).
 */
export interface RequestScope {
  readonly log: Logger;
  waitUntil(promise: Promise<unknown>): void;
  /** Adds to this request's metrics (its tenant's, once known); absent where none are kept. */
  count?(counter: RequestCounter, n?: number): void;
}

/** Lines of no particular request (an actor's, a tier's), in the same JSON shape as a request's. */
export function isolateLog(fields: Fields = {}): Logger {
  const line = (level: string, msg: string, extra?: Fields) =>
    console.log(JSON.stringify({ level, msg, ...fields, ...extra }));
  return {
    info: (msg, extra) => line("info", msg, extra),
    warn: (msg, extra) => line("warn", msg, extra),
    error: (msg, extra) => line("error", msg, extra),
    alert: (msg, extra) => line("alert", msg, extra),
    annotate: () => {},
  };
}
