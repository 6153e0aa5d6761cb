import type { MiddlewareHandler, ValidationTargets } from "hono";
import type * as z from "zod/mini";
import type { Scope } from "../../core/tenancy/tokens";
import type { AppEnv } from "../context";

/**
 * What the OpenAPI document says about a route, attached to the route itself: `describeRoute` is a
 * pass-through middleware carrying it, and `validate` tags its middleware with the schema it
 * checks. The document is built from `app.routes`, so it lists what the app really serves.
 */
export interface RouteDoc {
  /** A stable name for generated clients, e.g. `getJob`. */
  operationId: string;
  summary: string;
  description?: string;
  tag: Tag;
  /** Who may call: anyone, an operator, a tenant API key only, or a key or token with a scope. */
  auth: "public" | "admin" | "api-key" | Scope;
  /** Request headers that change the answer (Authorization and X-Request-Id are implied). */
  requestHeaders?: RequestHeader[];
  /** A body the proxy passes through without a validator of its own. */
  passThroughBody?: { schema: z.ZodMiniType; description: string };
  responses: Partial<Record<SuccessStatus, ResponseDoc>>;
  /** Each status answers `{ "error": string }`; the text says when. */
  errors: Partial<Record<ErrorStatus, string>>;
}

export type Tag =
  | "jobs"
  | "tokens"
  | "webhooks"
  | "service"
  | "admin: tenants"
  | "admin: jobs"
  | "admin: webhooks";
export type SuccessStatus = 200 | 201 | 204 | 304;
export type ErrorStatus = 400 | 401 | 402 | 403 | 404 | 409 | 413 | 422 | 429 | 502 | 503 | 504;
export type RequestHeader = "If-None-Match" | "Cache-Control" | "Idempotency-Key";
export type ResponseHeader =
  | "X-Cache"
  | "ETag"
  | "Cache-Control"
  | "Retry-After"
  | "Location"
  | "Idempotent-Replayed"
  | "Page-Budget-Remaining";

export interface ResponseDoc {
  description: string;
  /** A schema named in `./responses` (it becomes a component); none for bodiless answers. */
  body?: z.ZodMiniType;
  /** The body's media type when it is not JSON. */
  mediaType?: string;
  headers?: ResponseHeader[];
}

export interface RequestSchema {
  target: keyof ValidationTargets;
  schema: z.ZodMiniType;
}

const routeDocs = new WeakMap<object, RouteDoc>();
const requestSchemas = new WeakMap<object, RequestSchema>();

declare global {
  /**
   * Whether routes carry their descriptions: `npm run openapi` and the tests set it. The Worker's
   * bundle defines it `false` (wrangler.toml, `[define]`), so that every `describeRoute(OPENAPI &&
   * { … })` folds to `describeRoute(false)` and no description weighs on production's script.
   */
  var OPENAPI: boolean | undefined;
}

export function describeRoute(doc: RouteDoc | false | undefined): MiddlewareHandler<AppEnv> {
  const middleware: MiddlewareHandler<AppEnv> = (_c, next) => next();
  if (doc) routeDocs.set(middleware, doc);
  return middleware;
}

/** Called by `validate`: the document shows exactly the schema that checks the request. */
export function documentRequest(middleware: object, request: RequestSchema): void {
  requestSchemas.set(middleware, request);
}

export function routeDocOf(handler: object): RouteDoc | undefined {
  return routeDocs.get(handler);
}

export function requestSchemaOf(handler: object): RequestSchema | undefined {
  return requestSchemas.get(handler);
}

/** The refusals of `authenticate`, shared by every tenant route. */
export const TENANT_AUTH_ERRORS = {
  401: "missing, unknown, revoked or expired credential (with `WWW-Authenticate: Bearer`)",
  403: "the credential may not do this: tenant disabled, scope missing, API key required, or an `Origin` the tenant does not list",
  429: "over the tenant's rate limit for reads or creations, or a browser token's end user over their share of it (`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`), or too many failed authentication attempts from this address; `Retry-After` says when to try again",
} as const;

export const ADMIN_AUTH_ERRORS = {
  401: "missing or wrong admin token, or no `ADMIN_TOKEN` configured",
  429: "too many failed authentication attempts from this address; `Retry-After` says when to try again",
} as const;

/** How Waveline's troubles reach the caller (README, "Upstream trouble"). */
export const UPSTREAM_ERRORS = {
  502: "Waveline failed, answered off-schema, about another job than the one asked, or with more than `MAX_UPSTREAM_BODY_BYTES`, was unreachable, or refused the proxy's own key",
  503: "Waveline is rate limiting the proxy (`Retry-After`), the proxy has no `WAVELINE_API_KEY`, or storage or the rate limiter is unavailable",
  504: "Waveline did not answer within `UPSTREAM_TIMEOUT_MS`",
} as const;

export const STORAGE_UNAVAILABLE =
  "storage (D1) or the rate limiter is unavailable: retry after `Retry-After` seconds";
