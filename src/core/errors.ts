/**
 * The core's failures, in its own words. It knows no HTTP: `http/errors.ts` is the one place
 * that turns each of them into a status and an `{ "error", "code" }` body.
 */

/**
 * Every error an answer can carry, one per cause: a program branches on these, people read the
 * message beside them. Stable: a code is never renamed or given another meaning.
 */
export type ErrorCode =
  | "invalid_request"
  | "invalid_json"
  | "invalid_idempotency_key"
  | "api_key_in_url"
  | "token_too_long"
  | "upstream_refused"
  | "authentication_failed"
  | "budget_exhausted"
  | "tenant_disabled"
  | "api_key_required"
  | "scope_missing"
  | "origin_not_allowed"
  | "not_found"
  | "job_not_found"
  | "tenant_not_found"
  | "api_key_not_found"
  | "webhook_not_found"
  | "method_not_allowed"
  | "idempotency_key_in_flight"
  | "webhook_endpoint_limit"
  | "body_too_large"
  | "url_too_long"
  | "idempotency_key_reused"
  | "idempotency_key_not_readable"
  | "rate_limited"
  | "too_many_streams"
  | "too_many_redeliveries"
  | "too_many_auth_failures"
  | "headers_too_large"
  | "internal_error"
  | "upstream_error"
  | "upstream_job_unusable"
  | "upstream_job_id_taken"
  | "job_not_recorded"
  | "idempotency_outcome_unknown"
  | "not_configured"
  | "upstream_unavailable"
  | "storage_unavailable"
  | "rate_limiter_unavailable"
  | "idempotency_unavailable"
  | "live_updates_unavailable"
  | "webhooks_unavailable"
  | "cache_purge_failed"
  | "metrics_unavailable"
  | "upstream_timeout";

/** A failure of the core that the caller is told about: its code decides the status. */
export abstract class CodedError extends Error {
  abstract readonly code: ErrorCode;
}

/** What went wrong with Waveline, as far as the caller is concerned. */
export type UpstreamFailure =
  /** Waveline refused the request itself (its 400): the caller's to fix, its message passed on. */
  | "refused"
  | "not-found"
  /** Waveline answered something the proxy cannot use, or refused the proxy's own key. */
  | "bad-answer"
  /** Waveline asked to be left alone for a while (its 429): retry after `retryAfterS`. */
  | "busy"
  | "timeout";

/** How an upstream failure reads to a program: an answer's code, a stream's last event's. */
export const UPSTREAM_CODES: Record<UpstreamFailure, ErrorCode> = {
  refused: "upstream_refused",
  // Waveline's 404 of a job the caller owns reads like any job it cannot read.
  "not-found": "job_not_found",
  "bad-answer": "upstream_error",
  busy: "upstream_unavailable",
  timeout: "upstream_timeout",
};

export class UpstreamError extends CodedError {
  override name = "UpstreamError";
  get code(): ErrorCode {
    return UPSTREAM_CODES[this.failure];
  }
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
    readonly options: {
      retryAfterS?: number;
      /** Waveline certainly made no job (it refused with 401, 403, 404 or 429). */
      createdNothing?: boolean;
    } = {},
  ) {
    super(message);
  }
}

/** A storage call that failed (down, timed out, throttled): answered 503, never as "not found". */
export class StorageUnavailableError extends CodedError {
  override name = "StorageUnavailableError";
  readonly code = "storage_unavailable";
}

/** A job the caller may not read, or that does not exist: the two must look the same. */
export class JobNotFoundError extends CodedError {
  override name = "JobNotFoundError";
  readonly code = "job_not_found";
  constructor() {
    super("job not found");
  }
}

/** A service the request needs is down or slow (a Durable Object, a limiter): retry later. */
export class ServiceUnavailableError extends CodedError {
  override name = "ServiceUnavailableError";
  constructor(
    readonly code:
      | "not_configured"
      | "idempotency_unavailable"
      | "rate_limiter_unavailable"
      | "metrics_unavailable",
    message: string,
    readonly retryAfterS = 5,
  ) {
    super(message);
  }
}

/** Name and message only: stacks and causes may quote request data. */
export function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
