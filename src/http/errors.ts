import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import {
  describeError,
  JobNotFoundError,
  ServiceUnavailableError,
  StorageUnavailableError,
  UpstreamError,
  type UpstreamFailure,
} from "../core/errors";
import type { AppEnv } from "./context";

/** Stops the request with `{ "error": message }`; extra headers (e.g. Retry-After) ride along. */
export function fail(
  status: ContentfulStatusCode,
  message: string,
  headers?: Record<string, string>,
): never {
  throw new HTTPException(status, {
    message,
    res: headers ? new Response(null, { headers }) : undefined,
  });
}

export function errorResponse(
  c: Context,
  status: ContentfulStatusCode,
  message: string,
  headers?: Record<string, string>,
): Response {
  return c.json({ error: message }, status, headers);
}

/** How each kind of upstream trouble reaches the caller. */
export const UPSTREAM_STATUS: Record<UpstreamFailure, ContentfulStatusCode> = {
  refused: 400,
  "not-found": 404,
  "bad-answer": 502,
  busy: 503,
  timeout: 504,
};

/** An error of the core as the status, message and headers the caller gets; undefined if not one. */
export function statusOf(
  err: unknown,
): { status: ContentfulStatusCode; message: string; headers?: Record<string, string> } | undefined {
  if (err instanceof HTTPException) {
    // Hono's own exceptions (malformed JSON, body limit) carry their text in the message.
    return {
      status: err.status as ContentfulStatusCode,
      message: err.message || "request failed",
      headers: err.res ? Object.fromEntries(err.res.headers) : undefined,
    };
  }
  if (err instanceof UpstreamError) {
    const { retryAfterS } = err.options;
    return {
      status: UPSTREAM_STATUS[err.failure],
      message: err.message,
      headers: retryAfterS === undefined ? undefined : { "Retry-After": String(retryAfterS) },
    };
  }
  if (err instanceof JobNotFoundError) return { status: 404, message: err.message };
  if (err instanceof ServiceUnavailableError) {
    return {
      status: 503,
      message: err.message,
      headers: { "Retry-After": String(err.retryAfterS) },
    };
  }
  return undefined;
}

/** The one place where errors become answers. */
export const onError: ErrorHandler<AppEnv> = (err, c) => {
  const known = statusOf(err);
  if (known) return errorResponse(c, known.status, known.message, known.headers);
  const log = c.get("scope")?.log;
  if (err instanceof StorageUnavailableError) {
    // Fail closed: an outage must never read as "unknown key" or "no such job".
    log?.error("storage unavailable", {
      error: describeError(err),
      cause: describeError(err.cause),
    });
    return errorResponse(c, 503, "storage is unavailable, retry later", { "Retry-After": "5" });
  }
  log?.error("unhandled error", { error: describeError(err) });
  return errorResponse(c, 500, "internal error");
};

export const notFound: NotFoundHandler<AppEnv> = (c) => errorResponse(c, 404, "not found");
