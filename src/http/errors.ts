import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { HonoEnv } from "../core/config";
import { StorageUnavailableError } from "../core/tenancy/guard";

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

export const onError: ErrorHandler<HonoEnv> = (err, c) => {
  if (err instanceof HTTPException) {
    // Hono's own exceptions (malformed JSON, body limit) carry their text in the message.
    const message = err.message || "request failed";
    const headers = err.res ? Object.fromEntries(err.res.headers) : undefined;
    return errorResponse(c, err.status as ContentfulStatusCode, message, headers);
  }
  if (err instanceof StorageUnavailableError) {
    // Fail closed: an outage must never read as "unknown key" or "no such job".
    c.get("log")?.error("storage unavailable", {
      error: describeError(err),
      cause: describeError(err.cause),
    });
    return errorResponse(c, 503, "storage is unavailable, retry later", { "Retry-After": "5" });
  }
  c.get("log")?.error("unhandled error", { error: describeError(err) });
  return errorResponse(c, 500, "internal error");
};

export const notFound: NotFoundHandler<HonoEnv> = (c) => errorResponse(c, 404, "not found");

/** Name and message only: stacks and causes may quote request data. */
export function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
