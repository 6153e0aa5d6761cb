import type { MiddlewareHandler, ValidationTargets } from "hono";
import type * as z from "zod/mini";
import type { ErrorCode } from "../../core/errors";
import type { Scope } from "../../core/tenancy/tokens";
import { jobSchema } from "../../waveline/schema";
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
  /** What a caller needs to know beyond the summary: tools show it, linters ask for it. */
  description: string;
  tag: Tag;
  /** Who may call: anyone, an operator, a tenant API key only, or a key or token with a scope. */
  auth: "public" | "admin" | "api-key" | Scope;
  /** Request headers that change the answer (Authorization and X-Request-Id are implied). */
  requestHeaders?: RequestHeader[];
  /** A body the proxy passes through without a validator of its own. */
  passThroughBody?: { schema: z.ZodMiniType; description: string };
  responses: Partial<Record<SuccessStatus, ResponseDoc>>;
  /**
   * The errors this route answers besides those every route of its kind does (authentication,
   * rate limits, validation, configuration: `./document` adds them), each code with when.
   */
  errors: RouteErrors;
  /** Headers some of its error answers carry too, each with the codes of those answers. */
  errorHeaders?: Partial<Record<ResponseHeader, ErrorCode[]>>;
}

/** An error's code and when a route answers it; its status comes from `http/errors.ts`. */
export type RouteErrors = Partial<Record<ErrorCode, string>>;

export type Tag =
  | "jobs"
  | "tokens"
  | "webhooks"
  | "service"
  | "admin: tenants"
  | "admin: jobs"
  | "admin: webhooks"
  | "admin: audit";
export type SuccessStatus = 200 | 201 | 204 | 304;
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

const TOO_MANY_AUTH_FAILURES =
  "too many failed authentication attempts from this address; `Retry-After` says when to try again";

/** The refusals of `authenticate` and the rate limits, on every tenant route. */
export const TENANT_AUTH_ERRORS = {
  authentication_failed:
    "missing, unknown, revoked or expired credential (with `WWW-Authenticate: Bearer`)",
  too_many_auth_failures: TOO_MANY_AUTH_FAILURES,
  tenant_disabled: "the credential's tenant is disabled",
  origin_not_allowed: "the request's `Origin` is not one the tenant lists",
  rate_limited:
    "over the tenant's rate limit, or a browser token's end user over their share of it (`RateLimit-*` headers; `Retry-After` says when to try again)",
  rate_limiter_unavailable: "the rate limiter cannot be asked: retry after `Retry-After` seconds",
  storage_unavailable: "storage (D1) is unavailable: retry after `Retry-After` seconds",
} as const satisfies RouteErrors;

export const ADMIN_AUTH_ERRORS = {
  authentication_failed: "missing or wrong admin token, or no `ADMIN_TOKEN` configured",
  too_many_auth_failures: TOO_MANY_AUTH_FAILURES,
} as const satisfies RouteErrors;

/** How Waveline's troubles reach the caller (README, "Upstream trouble"). */
export const UPSTREAM_ERRORS = {
  upstream_refused: "Waveline refused the request (its message)",
  upstream_error:
    "Waveline failed, answered off-schema, about another job than the one asked, or with more than `MAX_UPSTREAM_BODY_BYTES`, was unreachable, or refused the proxy's own key",
  upstream_unavailable: "Waveline is rate limiting the proxy: retry after `Retry-After` seconds",
  upstream_timeout: "Waveline did not answer within `UPSTREAM_TIMEOUT_MS`",
} as const satisfies RouteErrors;

export const STORAGE_UNAVAILABLE = {
  storage_unavailable: "storage (D1) is unavailable: retry after `Retry-After` seconds",
} as const satisfies RouteErrors;

/** The answers of a job read, the tenant's and the operator's alike. */
export const JOB_READ_ANSWERS = {
  200: {
    description: "the job; `ETag` for terminal jobs, `Retry-After` for running ones",
    body: jobSchema,
    headers: ["X-Cache", "ETag", "Cache-Control", "Retry-After"],
  },
  304: {
    description: "the terminal job still matches `If-None-Match`",
    headers: ["X-Cache", "ETag", "Cache-Control"],
  },
} satisfies RouteDoc["responses"];
