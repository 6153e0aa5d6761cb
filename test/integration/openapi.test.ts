import { env } from "cloudflare:workers";
import { Validator } from "@cfworker/json-schema";
import { beforeAll, describe, expect, it } from "vitest";
import { ERROR_STATUS } from "../../src/http/errors";
import { appFor } from "../../src/platform/cloudflare/worker";
import {
  asAdmin,
  createTenant,
  jsonBody,
  mintToken,
  proxyFetch,
  SEEDED,
  type TestTenant,
  tenantOwningSeededJobs,
  withBearer,
} from "./helpers";

type Schema = Record<string, unknown> & {
  allOf?: { $ref?: string; properties?: { code?: { enum?: string[] } } }[];
};
type Media = Record<string, { schema: Schema }>;
interface Parameter {
  name?: string;
  schema?: Schema;
  $ref?: string;
}
interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  security: Record<string, string[]>[];
  servers?: { url: string }[];
  parameters: Parameter[];
  requestBody?: { content: Media };
  responses: Record<
    string,
    { description: string; headers: Record<string, unknown>; content?: Media }
  >;
}
interface OpenApiDocument {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, Schema>;
    securitySchemes: Record<string, unknown>;
    responses: Record<string, unknown>;
    requestBodies: Record<string, unknown>;
  };
}

/** The document as served, and the same with its shared responses and bodies written out. */
let served: OpenApiDocument;
let doc: OpenApiDocument;

beforeAll(async () => {
  served = await (await proxyFetch("/openapi.json")).json();
  doc = withSharedWrittenOut(served);
});

function withSharedWrittenOut(document: OpenApiDocument): OpenApiDocument {
  const copy = structuredClone(document);
  const resolve = <T>(item: T): T => {
    const ref = (item as { $ref?: string }).$ref;
    if (ref === undefined) return item;
    const [, , section, name] = ref.split("/") as [string, string, "responses", string];
    return copy.components[section][name] as T;
  };
  for (const item of Object.values(copy.paths)) {
    for (const operation of Object.values(item)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        operation.responses[status] = resolve(response);
      }
      if (operation.requestBody) operation.requestBody = resolve(operation.requestBody);
    }
  }
  return copy;
}

function operationOf(method: string, path: string): Operation {
  const operation = doc.paths[path]?.[method.toLowerCase()];
  if (!operation) throw new Error(`${method} ${path} is not in the document`);
  return operation;
}

function requestSchemaOf(method: string, path: string): Schema {
  const schema = operationOf(method, path).requestBody?.content["application/json"]?.schema;
  if (!schema) throw new Error(`${method} ${path} documents no JSON body`);
  return schema;
}

/** A validator for a schema of the document, its `$ref`s into the components resolved. */
function validatorFor(schema: Schema): Validator {
  const rebased = JSON.parse(
    JSON.stringify({ ...schema, $defs: doc.components.schemas }).replaceAll(
      "#/components/schemas/",
      "#/$defs/",
    ),
  );
  return new Validator(rebased, "2020-12", false);
}

/** The live answer's status is documented for the route, and its body fits the documented schema. */
async function expectDocumented(
  method: string,
  path: string,
  response: Response,
): Promise<Record<string, unknown>> {
  const documented = operationOf(method, path).responses[String(response.status)];
  expect(documented, `${method} ${path} answered an undocumented ${response.status}`).toBeDefined();
  const schema = documented?.content?.["application/json"]?.schema;
  if (!schema) return {};
  const body = await response.json();
  const result = validatorFor(schema).validate(body);
  expect(result.errors, `${method} ${path} ${response.status}: ${JSON.stringify(body)}`).toEqual(
    [],
  );
  return body as Record<string, unknown>;
}

describe("GET /openapi.json", () => {
  it("answers OpenAPI 3.1 to anyone, cacheable for five minutes", async () => {
    const response = await proxyFetch("/openapi.json");

    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(response.headers.get("Cache-Control")).toBe("public, max-age=300");
    expect(response.headers.get("X-Request-Id")).toBeTruthy();
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
  });

  it("lists every route the app serves, under each mount that serves it, and no other", () => {
    const served = new Set(
      appFor(env)
        .routes.filter((route) => route.method !== "ALL")
        .map((route) => `${route.method} ${route.path.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}")}`),
    );
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        for (const { url } of operation.servers ?? doc.servers) {
          documented.add(`${method.toUpperCase()} ${url === "/" ? "" : url}${path}`);
        }
      }
    }

    expect([...documented].sort()).toEqual([...served].sort());
    // The Waveline-compatible mount is there, not only the root.
    expect(documented).toContain("GET /api/v1/jobs/{id}");
    expect(documented).toContain("POST /api/v1/extract-document");
    expect(documented).not.toContain("GET /api/v1/admin/tenants");
  });

  it("describes every operation: a unique id, a description, who may call, its answers, its errors' codes and headers", () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const where = `${method} ${path}`;
        expect(operation.summary, where).not.toBe("undocumented");
        expect(operation.description, where).toMatch(/\S/);
        expect(operation.servers, where).toBeUndefined();
        expect(ids.has(operation.operationId), where).toBe(false);
        ids.add(operation.operationId);
        expect(Array.isArray(operation.security), where).toBe(true);
        const statuses = Object.keys(operation.responses);
        expect(
          statuses.some((status) => status.startsWith("2")),
          where,
        ).toBe(true);
        expect(
          statuses.some((status) => status.startsWith("4")),
          where,
        ).toBe(true);
        for (const status of statuses) {
          const response = operation.responses[status];
          expect(response?.headers["X-Request-Id"], `${where} ${status}`).toBeDefined();
          if (Number(status) >= 400) {
            const schema = response?.content?.["application/json"]?.schema;
            expect(schema?.allOf?.[0]).toEqual({ $ref: "#/components/schemas/Error" });
            const codes = schema?.allOf?.[1]?.properties?.code?.enum ?? [];
            expect(codes.length, `${where} ${status}`).toBeGreaterThan(0);
            for (const code of codes) {
              expect(ERROR_STATUS[code as keyof typeof ERROR_STATUS], `${where} ${code}`).toBe(
                Number(status),
              );
              expect(response?.description, `${where} ${status}`).toContain(`\`${code}\``);
            }
          }
        }
      }
    }
  });

  it("writes what several operations answer alike once, as a component each refers to", () => {
    const root = served.paths["/jobs/{id}"]?.get;
    const alias = served.paths["/api/v1/jobs/{id}"]?.get;

    expect(alias?.responses).toEqual(root?.responses);
    expect(root?.responses[200]).toEqual({ $ref: "#/components/responses/getJob200" });
    expect(served.paths["/admin/tenants"]?.get?.responses[414]).toEqual({
      $ref: "#/components/responses/UrlTooLong",
    });
    expect(served.paths["/extract-document"]?.post?.requestBody).toEqual({
      $ref: "#/components/requestBodies/createExtractionBody",
    });
    // The operations' answers and bodies, written out in each operation of both mounts, are more
    // than twice as long as the operations with their shared components (schemas count on neither
    // side, so a new schema does not move the ratio).
    const length = (value: unknown) => JSON.stringify(value ?? {}).length;
    const shared =
      length(served.paths) +
      length(served.components.responses) +
      length(served.components.requestBodies);
    expect(shared * 2).toBeLessThan(length(doc.paths));
  });

  it("says who may call each route", () => {
    expect(operationOf("GET", "/jobs/{id}").security).toEqual([
      { apiKey: [] },
      { browserToken: ["jobs:read"] },
    ]);
    expect(operationOf("POST", "/extract-document").security).toEqual([
      { apiKey: [] },
      { browserToken: ["jobs:create"] },
    ]);
    expect(operationOf("POST", "/tokens").security).toEqual([{ apiKey: [] }]);
    expect(operationOf("GET", "/admin/tenants").security).toEqual([{ adminToken: [] }]);
    expect(operationOf("GET", "/health").security).toEqual([]);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      "adminToken",
      "apiKey",
      "browserToken",
    ]);
  });

  it("documents the cache headers of a job read and the 304 of If-None-Match", () => {
    const read = operationOf("GET", "/jobs/{id}");

    expect(Object.keys(read.responses[200]?.headers ?? {})).toEqual(
      expect.arrayContaining(["X-Cache", "ETag", "Cache-Control", "Retry-After"]),
    );
    expect(read.responses[304]).toBeDefined();
    expect(read.parameters).toContainEqual({ $ref: "#/components/parameters/If-None-Match" });
    expect(operationOf("POST", "/extract-document").responses[201]?.headers.Location).toBeDefined();
    expect(operationOf("POST", "/extract-document").responses[413]).toBeDefined();
  });

  it("says which answers of a creation may be the replay of the key's first one", () => {
    const creation = operationOf("POST", "/extract-document").responses;
    const replayable = Object.keys(creation).filter(
      (status) => creation[status]?.headers["Idempotent-Replayed"] !== undefined,
    );

    // The job, or what Waveline's trouble made of the first request; never the proxy's refusals.
    expect(replayable).toEqual(["201", "400", "502", "503", "504"]);
  });
});

describe("the document's request schemas and the live validators", () => {
  let acme: TestTenant;

  beforeAll(async () => {
    acme = await createTenant("openapi-requests");
  });

  it.each([
    ["/extract-document", "tenant"],
    ["/guess-shape", "tenant"],
    ["/webhooks", "tenant"],
    ["/admin/tenants", "admin"],
  ] as const)("takes the example body /docs offers for POST %s as it is", async (path, who) => {
    // What docs.js fills in: the body's own example, else each required field's first example.
    const schema = requestSchemaOf("POST", path) as Schema & {
      examples?: unknown[];
      required?: string[];
      properties?: Record<string, { examples?: unknown[] }>;
    };
    const body =
      schema.examples?.[0] ??
      Object.fromEntries(
        (schema.required ?? []).map((name) => [name, schema.properties?.[name]?.examples?.[0]]),
      );
    const init = jsonBody(body);

    const response = await proxyFetch(path, who === "admin" ? asAdmin(init) : acme.auth(init));

    expect(response.status, JSON.stringify(await response.clone().json())).toBe(201);
  });

  it.each([
    [{}],
    [{ sub: "user-1", scopes: ["jobs:read", "jobs:create"], jobs: ["job-1"], ttlSeconds: 60 }],
    [{ sub: "" }],
    [{ sub: "u".repeat(257) }],
    [{ scopes: [] }],
    [{ scopes: ["jobs:delete"] }],
    [{ jobs: ["not/an/id"] }],
    [{ jobs: Array.from({ length: 101 }, (_, i) => `job-${i}`) }],
    [{ ttlSeconds: 3601 }],
    [{ ttlSeconds: 1.5 }],
    [{ ttlSeconds: "60" }],
  ])("agree on POST /tokens %j", async (body) => {
    const documentAccepts = validatorFor(requestSchemaOf("POST", "/tokens")).validate(body).valid;

    const response = await proxyFetch("/tokens", acme.auth(jsonBody(body)));

    expect(response.status).toBe(documentAccepts ? 201 : 400);
  });

  it.each([
    [{ name: "globex" }],
    [{ name: "globex", allowedOrigins: ["https://app.globex.example"] }],
    [{}],
    [{ name: "" }],
    [{ name: 42 }],
    [{ name: "n".repeat(101) }],
    [{ name: "globex", allowedOrigins: "https://app.globex.example" }],
  ])("agree on POST /admin/tenants %j", async (body) => {
    const schema = requestSchemaOf("POST", "/admin/tenants");
    const documentAccepts = validatorFor(schema).validate(body).valid;

    const response = await proxyFetch("/admin/tenants", asAdmin(jsonBody(body)));

    expect(response.status).toBe(documentAccepts ? 201 : 400);
  });

  it.each([["00000000-0000-4000-8000-00000000dead"], ["job_1-A"], ["x".repeat(129)], ["a.b"]])(
    "agree on the job id of GET /jobs/{id}: %s",
    async (id) => {
      const parameter = operationOf("GET", "/jobs/{id}").parameters.find((p) => p.name === "id");
      const documentAccepts = validatorFor(parameter?.schema ?? {}).validate(id).valid;

      const response = await proxyFetch(`/jobs/${id}`, acme.auth());

      // A well-formed id that is not the tenant's is a 404; a malformed one never gets that far.
      expect(response.status).toBe(documentAccepts ? 404 : 400);
    },
  );
});

describe("live answers fit the documented responses", () => {
  let acme: TestTenant;

  beforeAll(async () => {
    acme = await tenantOwningSeededJobs("openapi-answers");
  });

  it("for the tenant API", async () => {
    await expectDocumented("GET", "/health", await proxyFetch("/health"));
    await expectDocumented("GET", "/jobs", await proxyFetch("/jobs", acme.auth()));
    await expectDocumented("GET", "/jobs", await proxyFetch("/jobs?count=0", acme.auth()));
    await expectDocumented("GET", "/jobs", await proxyFetch("/jobs"));
    const completed = await proxyFetch(`/jobs/${SEEDED.completed}`, acme.auth());
    const etag = completed.headers.get("ETag") ?? "";
    await expectDocumented("GET", "/jobs/{id}", completed);
    await expectDocumented(
      "GET",
      "/jobs/{id}",
      await proxyFetch(`/api/v1/jobs/${SEEDED.running}`, acme.auth()),
    );
    await expectDocumented(
      "GET",
      "/jobs/{id}",
      await proxyFetch(
        `/jobs/${SEEDED.completed}`,
        acme.auth({ headers: { "If-None-Match": etag } }),
      ),
    );
    await expectDocumented("GET", "/jobs/{id}", await proxyFetch("/jobs/nobodys", acme.auth()));
    const document = { fileName: "note.txt", contentType: "text/plain", content: "hello" };
    await expectDocumented(
      "POST",
      "/extract-document",
      await proxyFetch("/extract-document", acme.auth(jsonBody(document))),
    );
    await expectDocumented(
      "POST",
      "/tokens",
      await proxyFetch("/tokens", acme.auth(jsonBody({ sub: "user-1", jobs: [SEEDED.running] }))),
    );
    const token = await mintToken(acme, { scopes: ["jobs:read"] });
    await expectDocumented(
      "POST",
      "/guess-shape",
      await proxyFetch("/guess-shape", withBearer(token, jsonBody(document))),
    );
  });

  it("for the admin API", async () => {
    const tenant = await expectDocumented(
      "POST",
      "/admin/tenants",
      await proxyFetch("/admin/tenants", asAdmin(jsonBody({ name: "initech" }))),
    );
    const tenantPath = `/admin/tenants/${String(tenant.id)}`;
    await expectDocumented("GET", "/admin/tenants", await proxyFetch("/admin/tenants", asAdmin()));
    await expectDocumented("GET", "/admin/tenants/{id}", await proxyFetch(tenantPath, asAdmin()));
    await expectDocumented(
      "GET",
      "/admin/tenants/{id}",
      await proxyFetch("/admin/tenants/tnt_nobody", asAdmin()),
    );
    await expectDocumented(
      "PATCH",
      "/admin/tenants/{id}",
      await proxyFetch(tenantPath, asAdmin(jsonBody({ disabled: true }, { method: "PATCH" }))),
    );
    const key = await expectDocumented(
      "POST",
      "/admin/tenants/{id}/keys",
      await proxyFetch(`${tenantPath}/keys`, asAdmin(jsonBody({ name: "backend" }))),
    );
    await expectDocumented(
      "GET",
      "/admin/tenants/{id}/keys",
      await proxyFetch(`${tenantPath}/keys`, asAdmin()),
    );
    await expectDocumented(
      "DELETE",
      "/admin/tenants/{id}/keys/{keyId}",
      await proxyFetch(`${tenantPath}/keys/${String(key.id)}`, asAdmin({ method: "DELETE" })),
    );
    await expectDocumented(
      "GET",
      "/admin/tenants/{id}/usage",
      await proxyFetch(`${tenantPath}/usage?from=2026-01-01`, asAdmin()),
    );
    await expectDocumented(
      "PUT",
      "/admin/jobs/{jobId}/owner",
      await proxyFetch(
        `/admin/jobs/${SEEDED.failed}/owner`,
        asAdmin(jsonBody({ tenantId: acme.id }, { method: "PUT" })),
      ),
    );
    await expectDocumented(
      "GET",
      "/admin/jobs/{jobId}",
      await proxyFetch(
        `/admin/jobs/${SEEDED.completed}`,
        asAdmin({ headers: { "Cache-Control": "no-cache" } }),
      ),
    );
    await expectDocumented(
      "DELETE",
      "/admin/cache/jobs/{jobId}",
      await proxyFetch(`/admin/cache/jobs/${SEEDED.completed}`, asAdmin({ method: "DELETE" })),
    );
    await expectDocumented("GET", "/admin/tenants", await proxyFetch("/admin/tenants"));
  });
});

describe("GET /docs", () => {
  it("answers a page that renders /openapi.json, with its script and style from this proxy", async () => {
    const response = await proxyFetch("/docs");
    const html = await response.text();
    const script = await proxyFetch("/docs/docs.js");

    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(response.headers.get("Cache-Control")).toBe("public, max-age=300");
    expect(html).toContain('<script src="/docs/docs.js"></script>');
    // Nothing from elsewhere: it must work offline.
    expect(html).not.toMatch(/\b(src|href)="?(https?:)?\/\//);
    expect(script.status).toBe(200);
    expect(script.headers.get("Content-Type")).toMatch(/javascript/);
    expect(await script.text()).toContain('fetch("/openapi.json")');
    expect((await proxyFetch("/docs/docs.css")).headers.get("Content-Type")).toMatch(/^text\/css/);
  });

  it("lets only scripts and styles of its own origin run, and talks to this origin alone", async () => {
    const response = await proxyFetch("/docs");
    const policy = response.headers.get("Content-Security-Policy") ?? "";

    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("style-src 'self'");
    expect(policy).toContain("connect-src 'self'");
  });

  it("serves no other file of the assets", async () => {
    expect((await proxyFetch("/docs/index.html")).status).toBe(404);
    expect((await proxyFetch("/docs/other.js")).status).toBe(404);
  });
});
