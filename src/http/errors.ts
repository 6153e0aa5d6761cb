import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import {
  CodedError,
  describeError,
  type ErrorCode,
  ServiceUnavailableError,
  StorageUnavailableError,
  UpstreamError,
} from "../core/errors";
import type { AppEnv } from "./context";

/** The one table from an error's code to its status (README, "Errors", lists it). */
export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_json: 400,
  invalid_idempotency_key: 400,
  api_key_in_url: 400,
  token_too_long: 400,
  upstream_refused: 400,
  authentication_failed: 401,
  budget_exhausted: 402,
  tenant_disabled: 403,
  api_key_required: 403,
  scope_missing: 403,
  origin_not_allowed: 403,
  not_found: 404,
  job_not_found: 404,
  tenant_not_found: 404,
  api_key_not_found: 404,
  webhook_not_found: 404,
  method_not_allowed: 405,
  idempotency_key_in_flight: 409,
  webhook_endpoint_limit: 409,
  body_too_large: 413,
  url_too_long: 414,
  idempotency_key_reused: 422,
  idempotency_key_not_readable: 422,
  rate_limited: 429,
  too_many_streams: 429,
  too_many_redeliveries: 429,
  too_many_auth_failures: 429,
  headers_too_large: 431,
  internal_error: 500,
  upstream_error: 502,
  upstream_job_unusable: 502,
  upstream_job_id_taken: 502,
  job_not_recorded: 502,
  idempotency_outcome_unknown: 502,
  not_configured: 503,
  upstream_unavailable: 503,
  storage_unavailable: 503,
  rate_limiter_unavailable: 503,
  idempotency_unavailable: 503,
  live_updates_unavailable: 503,
  webhooks_unavailable: 503,
  cache_purge_failed: 503,
  metrics_unavailable: 503,
  upstream_timeout: 504,
} as const satisfies Record<ErrorCode, ContentfulStatusCode>;

export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

/** A refusal of the HTTP layer: its code, and headers (Retry-After, Allow…) that ride along. */
class Refusal extends HTTPException {
  constructor(
    readonly code: ErrorCode,
    message: string,
    headers?: Record<string, string>,
  ) {
    super(ERROR_STATUS[code], {
      message,
      res: headers ? new Response(null, { headers }) : undefined,
    });
  }
}

/** Stops the request with `{ "error": message, "code": code }`, its status from the table. */
export function fail(code: ErrorCode, message: string, headers?: Record<string, string>): never {
  throw new Refusal(code, message, headers);
}

export function errorResponse(
  c: Context,
  code: ErrorCode,
  message: string,
  headers?: Record<string, string>,
  extra?: Record<string, string>,
): Response {
  return c.json({ error: message, code, ...extra }, ERROR_STATUS[code], headers);
}

/** Hono's own exceptions (malformed JSON, a body over a limit) by their status. */
const HONO_CODES: Partial<Record<number, ErrorCode>> = {
  400: "invalid_json",
  413: "body_too_large",
};

interface Answer {
  code: ErrorCode;
  message: string;
  headers?: Record<string, string>;
}

/** An error as the code, message and headers the caller gets; undefined if not one it may see. */
export function answerOf(err: unknown): Answer | undefined {
  if (err instanceof Refusal) {
    return {
      code: err.code,
      message: err.message,
      headers: err.res ? Object.fromEntries(err.res.headers) : undefined,
    };
  }
  if (err instanceof HTTPException) {
    const code = HONO_CODES[err.status];
    return code && { code, message: err.message || "request failed" };
  }
  if (err instanceof UpstreamError) {
    const { retryAfterS } = err.options;
    return {
      code: err.code,
      message: err.message,
      headers: retryAfterS === undefined ? undefined : { "Retry-After": String(retryAfterS) },
    };
  }
  if (err instanceof ServiceUnavailableError) {
    return {
      code: err.code,
      message: err.message,
      headers: { "Retry-After": String(err.retryAfterS) },
    };
  }
  // Its message names what failed inside: logged by `onError`, never shown.
  if (err instanceof StorageUnavailableError) return undefined;
  if (err instanceof CodedError) return { code: err.code, message: err.message };
  return undefined;
}

/** The one place where errors become answers. */
export const onError: ErrorHandler<AppEnv> = (err, c) => {
  const known = answerOf(err);
  if (known) return errorResponse(c, known.code, known.message, known.headers);
  const log = c.get("scope")?.log;
  if (err instanceof StorageUnavailableError) {
    // Fail closed: an outage must never read as "unknown key" or "no such job".
    log?.error("storage unavailable", {
      error: describeError(err),
      cause: describeError(err.cause),
    });
    return errorResponse(c, err.code, "storage is unavailable, retry later", {
      "Retry-After": "5",
    });
  }
  log?.error("unhandled error", { error: describeError(err) });
  return errorResponse(c, "internal_error", "internal error");
};

export const notFound: NotFoundHandler<AppEnv> = (c) => errorResponse(c, "not_found", "not found");
