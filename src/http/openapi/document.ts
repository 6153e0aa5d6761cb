import type { RouterRoute } from "hono/types";
import { COMPOSED_HANDLER } from "hono/utils/constants";
import * as z from "zod/mini";
import { HEADERS, INFO_DESCRIPTION, PARAMETERS, SECURITY_SCHEMES, TAGS } from "./components";
import {
  type ErrorStatus,
  type RequestSchema,
  type ResponseDoc,
  type RouteDoc,
  requestSchemaOf,
  routeDocOf,
} from "./describe";
import { namedResponses } from "./responses";

type Json = Record<string, unknown>;

export interface DocumentOptions {
  /** Prefixes that serve the same routes as the root, e.g. `/api/v1`: listed as servers. */
  aliases: string[];
}

/** The OpenAPI 3.1 document of every route in `routes` (an app's `app.routes`). */
export function buildOpenApiDocument(routes: readonly RouterRoute[], options: DocumentOptions) {
  const operations = operationsOf(routes, options.aliases);
  const paths: Record<string, Json> = {};
  for (const operation of operations) {
    const template = openApiPath(operation.path);
    paths[template] ??= {};
    (paths[template] as Json)[operation.method.toLowerCase()] = operationObject(operation);
  }
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
    components: {
      schemas: componentSchemas(),
      securitySchemes: SECURITY_SCHEMES,
      headers: HEADERS,
      parameters: PARAMETERS,
    },
  };
}

export type OpenApiDocument = ReturnType<typeof buildOpenApiDocument>;

interface Operation {
  method: string;
  path: string;
  /** Root first, then every alias the same route is also served under. */
  servers: string[];
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
        servers: ["/"],
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
  // `/api/v1/jobs` beside `/jobs` is one operation with two servers.
  for (const [key, operation] of byKey) {
    for (const alias of aliases) {
      if (!operation.path.startsWith(`${alias}/`)) continue;
      const root = byKey.get(`${operation.method} ${operation.path.slice(alias.length)}`);
      if (!root) continue;
      root.servers.push(alias);
      byKey.delete(key);
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
  const object: Json = {
    operationId: doc?.operationId ?? `${operation.method.toLowerCase()} ${operation.path}`,
    summary: doc?.summary ?? "undocumented",
    ...(doc?.description ? { description: doc.description } : {}),
    tags: doc ? [doc.tag] : [],
    security: securityOf(doc?.auth ?? "public"),
    parameters: [
      ...pathParameters(operation.path, schemaOf("param")),
      ...queryParameters(schemaOf("query")),
      ...(doc?.requestHeaders ?? []).map((name) => ({ $ref: `#/components/parameters/${name}` })),
      { $ref: "#/components/parameters/X-Request-Id" },
    ],
    responses: responsesOf(doc),
  };
  const body = requestBodyOf(schemaOf("json"), doc);
  if (body) object.requestBody = body;
  if (operation.servers.length > 1) {
    object.servers = operation.servers.map((url) => ({
      url,
      description: url === "/" ? "this proxy" : "the same route under Waveline's base path",
    }));
  }
  return object;
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

const CONFIG_PROBLEM = "the proxy's configuration is invalid (`proxy is not configured: …`)";

function responsesOf(doc: RouteDoc | undefined): Json {
  const responses: Json = {};
  for (const [status, response] of Object.entries(doc?.responses ?? {})) {
    responses[status] = successResponse(response as ResponseDoc);
  }
  // Every route sits behind the configuration check, so any of them can answer this 503.
  const errors: Partial<Record<ErrorStatus, string>> = { ...doc?.errors };
  errors[503] = errors[503] ? `${errors[503]}; or ${CONFIG_PROBLEM}` : CONFIG_PROBLEM;
  for (const [status, description] of Object.entries(errors)) {
    const headers: Json = { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" } };
    if (status === "401")
      headers["WWW-Authenticate"] = { $ref: "#/components/headers/WWW-Authenticate" };
    if (status === "503" || status === "429") {
      headers["Retry-After"] = { $ref: "#/components/headers/Retry-After" };
    }
    responses[status] = {
      description,
      headers,
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
    };
  }
  return responses;
}

function successResponse(response: ResponseDoc): Json {
  const headers: Json = { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" } };
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
    Object.entries(schemas).map(([id, { $schema: _s, $id: _i, ...schema }]) => [id, schema]),
  );
}
