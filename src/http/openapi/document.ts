import type { RouterRoute } from "hono/types";
import { COMPOSED_HANDLER } from "hono/utils/constants";
import * as z from "zod/mini";
import type { ErrorCode } from "../../core/errors";
import { ERROR_STATUS } from "../errors";
import { REQUEST_LIMITS } from "../limits";
import { HEADERS, INFO_DESCRIPTION, PARAMETERS, SECURITY_SCHEMES, TAGS } from "./components";
import {
  ADMIN_AUTH_ERRORS,
  type RequestSchema,
  type ResponseDoc,
  type RouteDoc,
  type RouteErrors,
  requestSchemaOf,
  routeDocOf,
  TENANT_AUTH_ERRORS,
} from "./describe";
import { namedResponses } from "./responses";
import "./webhook-events";

type Json = Record<string, unknown>;

export interface DocumentOptions {
  /**
   * Prefixes that serve the same routes as the root, e.g. `/api/v1`: their paths are listed too,
   * as operations of their own (docs/decisions/openapi.md says why not as servers).
   */
  aliases: string[];
}

/** The OpenAPI 3.1 document of every route in `routes` (an app's `app.routes`). */
export function buildOpenApiDocument(routes: readonly RouterRoute[], options: DocumentOptions) {
  const operations = operationsOf(routes, options.aliases);
  const paths: Record<string, Json> = {};
  const built: BuiltOperation[] = [];
  for (const operation of operations) {
    const template = openApiPath(operation.path);
    paths[template] ??= {};
    const object = operationObject(operation);
    (paths[template] as Json)[operation.method.toLowerCase()] = object;
    built.push({ name: operation.doc?.operationId ?? String(object.operationId), object });
  }
  const shared = shareRepeated(built);
  return {
    openapi: "3.1.1",
    info: {
      title: "Waveline edge proxy",
      version: "1.0",
      description: INFO_DESCRIPTION,
      license: { name: "MIT", identifier: "MIT" },
    },
    servers: [{ url: "/", description: "this proxy" }],
    tags: TAGS,
    paths,
    webhooks: webhookEvents(),
    components: {
      schemas: componentSchemas(),
      securitySchemes: SECURITY_SCHEMES,
      headers: HEADERS,
      parameters: PARAMETERS,
      ...shared,
    },
  };
}

export type OpenApiDocument = ReturnType<typeof buildOpenApiDocument>;

interface Operation {
  method: string;
  path: string;
  /** The prefix this path is served under besides the root, if it is such an alias. */
  alias?: string;
  doc: RouteDoc | undefined;
  requests: RequestSchema[];
}

/** One operation per method and path; middleware (`ALL`) is not an operation. */
function operationsOf(routes: readonly RouterRoute[], aliases: string[]): Operation[] {
  const byKey = new Map<string, Operation>();
  for (const route of routes) {
    if (route.method === "ALL") continue;
    const key = `${route.method} ${route.path}`;
    let operation = byKey.get(key);
    if (!operation) {
      operation = {
        method: route.method,
        path: route.path,
        doc: undefined,
        requests: [],
      };
      byKey.set(key, operation);
    }
    // A sub-app with its own error handler wraps each handler; its original is kept here.
    const handler =
      (route.handler as unknown as Record<string, object | undefined>)[COMPOSED_HANDLER] ??
      route.handler;
    operation.doc ??= routeDocOf(handler);
    const request = requestSchemaOf(handler);
    if (request) operation.requests.push(request);
  }
  // `/api/v1/jobs` beside `/jobs`: the same route, an operation id of its own.
  for (const operation of byKey.values()) {
    for (const alias of aliases) {
      if (!operation.path.startsWith(`${alias}/`)) continue;
      if (byKey.has(`${operation.method} ${operation.path.slice(alias.length)}`)) {
        operation.alias = alias;
      }
    }
  }
  return [...byKey.values()];
}

/** Hono's `/jobs/:id` (or `:id{pattern}`) is OpenAPI's `/jobs/{id}`. */
function openApiPath(path: string): string {
  return path.replace(/:(\w+)(\{[^}]*\})?\??/g, "{$1}");
}

function pathParamNames(path: string): string[] {
  return [...path.matchAll(/:(\w+)/g)].map((match) => match[1] as string);
}

function operationObject(operation: Operation): Json {
  const doc = operation.doc;
  const schemaOf = (target: RequestSchema["target"]) =>
    operation.requests.find((request) => request.target === target)?.schema;
  const { alias } = operation;
  const operationId = doc?.operationId ?? `${operation.method.toLowerCase()} ${operation.path}`;
  const object: Json = {
    operationId: alias ? `${operationId}${aliasSuffix(alias)}` : operationId,
    summary: doc?.summary ?? "undocumented",
    description: [
      alias &&
        `\`${operationId}\` under Waveline's base path \`${alias}\`, for existing Waveline clients.`,
      doc?.description,
    ]
      .filter(Boolean)
      .join("\n\n"),
    tags: doc ? [doc.tag] : [],
    security: securityOf(doc?.auth ?? "public"),
    parameters: [
      ...pathParameters(operation.path, schemaOf("param")),
      ...queryParameters(schemaOf("query")),
      ...(doc?.requestHeaders ?? []).map((name) => ({ $ref: `#/components/parameters/${name}` })),
      { $ref: "#/components/parameters/X-Request-Id" },
    ],
    responses: responsesOf(doc, operation.requests),
  };
  const body = requestBodyOf(schemaOf("json"), doc);
  if (body) object.requestBody = body;
  return object;
}

/** `/api/v1` → `ApiV1`: `getJob` there is `getJobApiV1`. */
function aliasSuffix(alias: string): string {
  return alias
    .split(/[^A-Za-z0-9]+/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}

function securityOf(auth: RouteDoc["auth"]): Json[] {
  switch (auth) {
    case "public":
      return [];
    case "admin":
      return [{ adminToken: [] }];
    case "api-key":
      return [{ apiKey: [] }];
    default:
      // OpenAPI 3.1 lets a bearer scheme list the roles it needs: here, the token's scope.
      return [{ apiKey: [] }, { browserToken: [auth] }];
  }
}

/** Request schemas describe what the validator accepts: its input side, defaults included. */
function requestJsonSchema(schema: z.ZodMiniType): Json {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: "input" }) as Json;
  return json;
}

function propertiesOf(schema: z.ZodMiniType | undefined) {
  if (!schema) return { properties: {} as Record<string, Json>, required: [] as string[] };
  const json = requestJsonSchema(schema);
  return {
    properties: (json.properties ?? {}) as Record<string, Json>,
    required: (json.required ?? []) as string[],
  };
}

function pathParameters(path: string, schema: z.ZodMiniType | undefined): Json[] {
  const { properties } = propertiesOf(schema);
  return pathParamNames(path).map((name) => ({
    name,
    in: "path",
    required: true,
    schema: properties[name] ?? { type: "string" },
  }));
}

function queryParameters(schema: z.ZodMiniType | undefined): Json[] {
  const { properties, required } = propertiesOf(schema);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: "query",
      required: required.includes(name),
      ...(description ? { description } : {}),
      schema: propertySchema,
    };
  });
}

function requestBodyOf(schema: z.ZodMiniType | undefined, doc: RouteDoc | undefined) {
  if (schema) {
    const json = requestJsonSchema(schema);
    // A body whose every field has a default may be left out: the validator then sees `{}`.
    const required = Array.isArray(json.required) && json.required.length > 0;
    return { required, content: { "application/json": { schema: json } } };
  }
  if (doc?.passThroughBody) {
    return {
      required: true,
      description: doc.passThroughBody.description,
      content: {
        "application/json": { schema: requestJsonSchema(doc.passThroughBody.schema) },
      },
    };
  }
  return undefined;
}

const RATE_LIMIT_HEADERS = Object.fromEntries(
  ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"].map((name) => [
    name,
    { $ref: `#/components/headers/${name}` },
  ]),
);

/** Tenant routes are rate limited: their answers carry the limit whenever one applies. */
function isRateLimited(doc: RouteDoc | undefined): boolean {
  return doc !== undefined && doc.auth !== "public" && doc.auth !== "admin";
}

/** The errors a route answers by what it is: its callers, its validators, the configuration. */
function impliedErrors(doc: RouteDoc | undefined, requests: RequestSchema[]): RouteErrors {
  const errors: RouteErrors = {};
  const auth = doc?.auth ?? "public";
  if (auth === "admin") Object.assign(errors, ADMIN_AUTH_ERRORS);
  else if (auth !== "public") Object.assign(errors, TENANT_AUTH_ERRORS);
  if (auth === "api-key")
    errors.api_key_required = "a browser token: this route takes API keys only";
  else if (auth !== "public" && auth !== "admin") {
    errors.scope_missing = `the API key or browser token lacks the \`${auth}\` scope`;
  }
  if (requests.length > 0) {
    errors.invalid_request = "a parameter or body field breaks its rule: the message names both";
  }
  if (requests.some((request) => request.target === "json")) {
    errors.invalid_json = "the body is not JSON";
    errors.body_too_large = `the body is larger than ${REQUEST_LIMITS.smallBodyBytes} bytes`;
  }
  // Every route sits behind the request limits and the configuration check.
  errors.url_too_long = "the URL is longer than the proxy accepts";
  errors.headers_too_large = "the request's headers are larger than the proxy accepts";
  errors.not_configured =
    "the proxy's configuration is invalid or lacks what this route needs (the message names the setting)";
  return errors;
}

function responsesOf(doc: RouteDoc | undefined, requests: RequestSchema[]): Json {
  const responses: Json = {};
  for (const [status, response] of Object.entries(doc?.responses ?? {})) {
    responses[status] = successResponse(response as ResponseDoc, isRateLimited(doc));
  }
  const byStatus = new Map<number, [ErrorCode, string][]>();
  const errors = { ...impliedErrors(doc, requests), ...doc?.errors };
  for (const [code, when] of Object.entries(errors) as [ErrorCode, string][]) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), [code, when]]);
  }
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    const headers: Json = { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" } };
    if (status === 401) {
      headers["WWW-Authenticate"] = { $ref: "#/components/headers/WWW-Authenticate" };
    }
    if (codes.some(([code]) => code === "rate_limited")) Object.assign(headers, RATE_LIMIT_HEADERS);
    if (status === 503 || status === 429 || status === 402 || status === 409) {
      headers["Retry-After"] = { $ref: "#/components/headers/Retry-After" };
    }
    for (const [name, carriers] of Object.entries(doc?.errorHeaders ?? {})) {
      if (codes.some(([code]) => carriers.includes(code))) {
        headers[name] = { $ref: `#/components/headers/${name}` };
      }
    }
    responses[String(status)] = {
      description: codes.map(([code, when]) => `\`${code}\`: ${when}`).join("; "),
      headers,
      content: {
        "application/json": {
          schema: {
            allOf: [
              { $ref: "#/components/schemas/Error" },
              {
                type: "object",
                properties: { code: { enum: codes.map(([code]) => code) } },
              },
            ],
          },
        },
      },
    };
  }
  return responses;
}

function successResponse(response: ResponseDoc, rateLimited: boolean): Json {
  const headers: Json = { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" } };
  if (rateLimited) Object.assign(headers, RATE_LIMIT_HEADERS);
  for (const name of response.headers ?? []) {
    headers[name] = { $ref: `#/components/headers/${name}` };
  }
  const object: Json = { description: response.description, headers };
  if (response.body) {
    const id = namedResponses.get(response.body)?.id;
    if (!id) throw new Error(`response schema for "${response.description}" has no name`);
    object.content = {
      [response.mediaType ?? "application/json"]: {
        schema: { $ref: `#/components/schemas/${id}` },
      },
    };
  } else if (response.mediaType) {
    object.content = { [response.mediaType]: {} };
  }
  return object;
}

function componentSchemas(): Record<string, Json> {
  const { schemas } = z.toJSONSchema(namedResponses, {
    io: "output",
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, Json> };
  // Each came out as a standalone document; inside components they are plain schemas.
  return Object.fromEntries(
    Object.entries(schemas).map(([id, { $schema: _s, $id: _i, ...schema }]) => [
      id,
      withoutEmptyAlternatives(schema) as Json,
    ]),
  );
}

/**
 * zod writes a nullable `unknown` (a job's `result`) as `anyOf: [{}, {type: "null"}]`; `{}` already
 * takes any value, null included, and linters flag a union with it as illogical: it is just `{}`.
 */
function withoutEmptyAlternatives(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutEmptyAlternatives);
  if (typeof schema !== "object" || schema === null) return schema;
  const { anyOf, ...rest } = schema as Json;
  const isEmpty = (alternative: unknown) =>
    typeof alternative === "object" &&
    alternative !== null &&
    Object.keys(alternative).length === 0;
  const walked = Object.fromEntries(
    Object.entries(rest).map(([key, value]) => [key, withoutEmptyAlternatives(value)]),
  );
  if (!Array.isArray(anyOf)) return walked;
  return anyOf.some(isEmpty) ? walked : { ...walked, anyOf: withoutEmptyAlternatives(anyOf) };
}

interface BuiltOperation {
  /** The route's own operation id: an alias's operation has its root's. */
  name: string;
  object: Json;
}

/**
 * A response or request body written the same way in several operations (an alias's are all its
 * root's; `url_too_long` is every route's) becomes one component, and each place a `$ref` to it:
 * the document says the same in well under half the bytes. A component shared by several routes'
 * errors is named after its codes (`UrlTooLong`; the most used one when the prose differs), any
 * other after the first operation that answers it (`getJob404`, `createTenant401`).
 */
function shareRepeated(operations: BuiltOperation[]) {
  const responses = new Sharing((status, users, content) => {
    if (new Set(users).size === 1 || Number(status) < 400) return undefined;
    return errorCodesOf(content).map(pascalCase).join("Or");
  });
  const requestBodies = new Sharing(() => undefined);
  for (const { name, object } of operations) {
    for (const [status, response] of Object.entries(object.responses as Json)) {
      responses.count(status, name, response as Json);
    }
    if (object.requestBody) requestBodies.count("Body", name, object.requestBody as Json);
  }
  for (const { object } of operations) {
    const answers = object.responses as Json;
    for (const [status, response] of Object.entries(answers)) {
      answers[status] = responses.refFor(status, response as Json, "responses");
    }
    if (object.requestBody) {
      object.requestBody = requestBodies.refFor(
        "Body",
        object.requestBody as Json,
        "requestBodies",
      );
    }
  }
  return { responses: responses.components(), requestBodies: requestBodies.components() };
}

/** Counts identical objects, then names those used more than once. */
class Sharing {
  private readonly uses = new Map<string, { key: string; object: Json; users: string[] }>();
  private names: Map<string, string> | undefined;

  /** `key` is a response's status; `nameOf` may give a name of the object's own. */
  constructor(
    private readonly nameOf: (key: string, users: string[], object: Json) => string | undefined,
  ) {}

  count(key: string, user: string, object: Json): void {
    const text = `${key} ${JSON.stringify(object)}`;
    const use = this.uses.get(text) ?? { key, object, users: [] };
    use.users.push(user);
    this.uses.set(text, use);
  }

  refFor(key: string, object: Json, section: string): Json {
    const name = this.named().get(`${key} ${JSON.stringify(object)}`);
    return name === undefined ? object : { $ref: `#/components/${section}/${name}` };
  }

  components(): Record<string, Json> {
    const byName = [...this.named()].map(([text, name]) => [name, this.uses.get(text)?.object]);
    return Object.fromEntries(byName.sort(([a], [b]) => String(a).localeCompare(String(b))));
  }

  private named(): Map<string, string> {
    if (this.names) return this.names;
    this.names = new Map();
    const taken = new Set<string>();
    const shared = [...this.uses].filter(([, use]) => use.users.length > 1);
    // The most used of several alike gets the plain name (a stable sort keeps the document's order).
    shared.sort(([, a], [, b]) => b.users.length - a.users.length);
    for (const [text, { key, object, users }] of shared) {
      let name = this.nameOf(key, users, object);
      if (name === undefined || taken.has(name)) name = `${users[0]}${key}`;
      taken.add(name);
      this.names.set(text, name);
    }
    return this.names;
  }
}

function errorCodesOf(response: Json): string[] {
  const media = (response.content as Json | undefined)?.["application/json"] as
    | { schema: { allOf: [unknown, { properties: { code: { enum: string[] } } }] } }
    | undefined;
  return media?.schema.allOf[1].properties.code.enum ?? [];
}

/** `url_too_long` → `UrlTooLong`. */
function pascalCase(name: string): string {
  return name
    .split("_")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}

/** What the proxy sends to a webhook endpoint, per event type (OpenAPI 3.1's `webhooks`). */
function webhookEvents(): Record<string, Json> {
  const events: [string, string, string, string, string][] = [
    [
      "job.completed",
      "jobCompleted",
      "A job of the tenant completed",
      "The job without its result (read it at `data.urls.get` with a key), once it is `COMPLETED`.",
      "JobWebhookEvent",
    ],
    [
      "job.failed",
      "jobFailed",
      "A job of the tenant failed",
      "The job, once it is `FAILED`.",
      "JobWebhookEvent",
    ],
    [
      "budget.threshold",
      "budgetThreshold",
      "A monthly page budget passed 80 % or 100 %",
      "The tenant's page budget (`scope: tenant`) or one end user's (`scope: end_user`, with `sub`) reached `percent` of its pages this month (UTC): once per threshold, budget and month, however many jobs settle at once.",
      "BudgetThresholdEvent",
    ],
    [
      "webhook.disabled",
      "webhookDisabled",
      "Another endpoint of the tenant was disabled",
      "The outbox disabled an endpoint of the tenant (its receiver answered 410 Gone): sent to the tenant's other enabled endpoints that receive this event. Redelivering one of its deliveries enables it again.",
      "WebhookDisabledEvent",
    ],
  ];
  const header = (name: string, description: string) => ({
    name,
    in: "header",
    required: true,
    description,
    schema: { type: "string" },
  });
  return Object.fromEntries(
    events.map(([event, operationId, summary, description, schema]) => [
      event,
      {
        post: {
          operationId,
          summary,
          description: `${description} Signed per Standard Webhooks with the endpoint's secret, retried until a 2xx (\`WEBHOOK_RETRY_DELAYS_S\`).`,
          tags: ["webhooks"],
          security: [],
          parameters: [
            header("webhook-id", "the same on every attempt of one delivery: drop duplicates"),
            header("webhook-timestamp", "seconds since the epoch, signed"),
            header(
              "webhook-signature",
              "`v1,<base64 HMAC-SHA256>`, one per secret, space-separated",
            ),
          ],
          requestBody: {
            required: true,
            content: { "application/json": { schema: { $ref: `#/components/schemas/${schema}` } } },
          },
          responses: {
            "200": { description: "any 2xx: delivered" },
            "410": { description: "Gone: the endpoint is disabled, nothing more is sent to it" },
          },
        },
      },
    ]),
  );
}
