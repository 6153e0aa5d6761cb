/**
 * The core's failures, in its own words. It knows no HTTP: `http/errors.ts` is the one place
 * that turns each of them into a status and an `{ "error" }` body.
 */

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

export class UpstreamError extends Error {
  override name = "UpstreamError";
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
export class StorageUnavailableError extends Error {
  override name = "StorageUnavailableError";
}

/** A job the caller may not read, or that does not exist: the two must look the same. */
export class JobNotFoundError extends Error {
  override name = "JobNotFoundError";
  constructor() {
    super("job not found");
  }
}

/** A service the request needs is down or slow (a Durable Object, a limiter): retry later. */
export class ServiceUnavailableError extends Error {
  override name = "ServiceUnavailableError";
  constructor(
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
