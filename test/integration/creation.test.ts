import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { worker as app } from "../../src/platform/cloudflare/worker";
import { TEST_WAVELINE_KEY } from "../constants";
import {
  createTenant,
  fakeWaveline,
  jsonBody,
  mintToken,
  PROXY_ORIGIN,
  proxyFetch,
  type TestTenant,
  withBearer,
} from "./helpers";

const DOCUMENT = {
  fileName: "invoice.txt",
  contentType: "text/plain",
  content: "Invoice INV-9, total 12 EUR",
  shape: [{ name: "total", type: "number" }],
};

let acme: TestTenant;
let globex: TestTenant;
beforeAll(async () => {
  acme = await createTenant("acme");
  globex = await createTenant("globex");
});

async function jobRows(tenantId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM jobs WHERE tenant_id = ?")
    .bind(tenantId)
    .all();
  return results;
}

describe("POST /extract-document and /guess-shape", () => {
  it("creates the job upstream, records it as the caller's, and answers it through the proxy", async () => {
    const response = await proxyFetch("/extract-document", acme.auth(jsonBody(DOCUMENT)));

    expect(response.status).toBe(201);
    const job = (await response.json()) as { id: string; status: string; urls: { get: string } };
    expect(job.status).toBe("CREATED");
    expect(job.urls.get).toBe(`${PROXY_ORIGIN}/jobs/${job.id}`);
    expect(response.headers.get("Location")).toBe(job.urls.get);
    // Recorded before the answer: the very next read by its owner works, anywhere.
    expect((await proxyFetch(`/jobs/${job.id}`, acme.auth())).status).toBe(200);
    expect((await proxyFetch(`/jobs/${job.id}`, globex.auth())).status).toBe(404);
  });

  it("passes the body through to Waveline as it is, with our key", async () => {
    const body = JSON.stringify({
      ...DOCUMENT,
      fileName: "pass-through-7f3a.txt",
      extra: { kept: true },
    });

    const response = await proxyFetch(
      "/api/v1/guess-shape",
      acme.auth({ method: "POST", body, headers: { "Content-Type": "application/json" } }),
    );

    expect(response.status).toBe(201);
    const job = (await response.json()) as {
      id: string;
      type: string;
      fileName: string;
      urls: { get: string };
    };
    expect(job.type).toBe("guess-shape");
    expect(job.fileName).toBe("pass-through-7f3a.txt");
    expect(job.urls.get).toBe(`${PROXY_ORIGIN}/api/v1/jobs/${job.id}`);
    const posts = (await fakeWaveline.calls("/guess-shape")).filter(
      (call) => call.method === "POST",
    );
    expect(posts.at(-1)?.headers.authorization).toBe(`Bearer ${TEST_WAVELINE_KEY}`);
    expect(posts.at(-1)?.headers["content-type"]).toBe("application/json");
  });

  it("records the token's subject as the job's owner within the tenant", async () => {
    const token = await mintToken(acme, { sub: "user-42", scopes: ["jobs:read", "jobs:create"] });

    const job = (await (
      await proxyFetch("/extract-document", withBearer(token, jsonBody(DOCUMENT)))
    ).json()) as {
      id: string;
    };

    const row = await env.DB.prepare(
      "SELECT tenant_id, subject, type, file_name FROM jobs WHERE id = ?",
    )
      .bind(job.id)
      .first();
    expect(row).toEqual({
      tenant_id: acme.id,
      subject: "user-42",
      type: "extract-document",
      file_name: "invoice.txt",
    });
  });

  it("passes Waveline's 400 message back and records nothing", async () => {
    const before = (await jobRows(acme.id)).length;

    const response = await proxyFetch(
      "/extract-document",
      acme.auth(jsonBody({ contentType: "text/plain" })),
    );

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: expect.stringMatching(/fileName/),
      code: "upstream_refused",
    });
    expect(await jobRows(acme.id)).toHaveLength(before);
  });

  it("answers 502 and records nothing when Waveline's answer has no string id", async () => {
    const fileName = `no-id-${crypto.randomUUID()}.txt`;
    await fakeWaveline.fault({
      match: "/extract-document",
      mode: "status",
      status: 201,
      body: { id: 7 },
      times: 1,
    });
    const before = (await jobRows(acme.id)).length;

    const response = await proxyFetch(
      "/extract-document",
      acme.auth(jsonBody({ ...DOCUMENT, fileName })),
    );

    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({
      error: "upstream sent an invalid answer",
      code: "upstream_error",
    });
    expect(await jobRows(acme.id)).toHaveLength(before);
  });

  it("does not retry a creation that failed upstream, which could bill twice", async () => {
    await fakeWaveline.fault({ match: "/extract-document", mode: "status", status: 503, times: 1 });
    const postsBefore = (await fakeWaveline.calls("/extract-document")).length;

    const response = await proxyFetch("/extract-document", acme.auth(jsonBody(DOCUMENT)));

    expect(response.status).toBe(502);
    expect((await fakeWaveline.calls("/extract-document")).length).toBe(postsBefore + 1);
  });

  it.each([
    ["not JSON", "fileName=a.txt", "request body must be JSON"],
    ["a JSON array", "[1,2]", "request body must be a JSON object"],
  ])("answers 400 for a body that is %s, without calling upstream", async (_, body, error) => {
    const response = await proxyFetch(
      "/extract-document",
      acme.auth({ method: "POST", body, headers: { "Content-Type": "application/json" } }),
    );

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error, code: "invalid_json" });
  });

  it("answers 413 above MAX_BODY_BYTES", async () => {
    const small = { ...env, MAX_BODY_BYTES: "256" };
    const body = JSON.stringify({ ...DOCUMENT, content: "x".repeat(300) });

    const response = await app.request(
      `${PROXY_ORIGIN}/extract-document`,
      acme.auth({ method: "POST", body, headers: { "Content-Type": "application/json" } }),
      small,
    );

    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: "request body is larger than 256 bytes",
      code: "body_too_large",
    });
  });
});

describe("GET /jobs", () => {
  it("lists the caller's own jobs, newest first, in Waveline's list shape", async () => {
    const tenant = await createTenant("lister");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await proxyFetch(
        "/extract-document",
        tenant.auth(jsonBody({ ...DOCUMENT, fileName: `f${i}.txt` })),
      );
      ids.push(((await response.json()) as { id: string }).id);
    }

    const response = await proxyFetch("/jobs?count=2&offset=0", tenant.auth());

    expect(response.status).toBe(200);
    const list = (await response.json()) as {
      items: Record<string, unknown>[];
      offset: number;
      count: number;
      total: number;
    };
    expect(list).toMatchObject({ offset: 0, count: 2, total: 3 });
    expect(list.items).toHaveLength(2);
    expect(list.items[0]).toEqual({
      id: expect.any(String),
      createdAt: expect.any(String),
      status: "CREATED",
      type: "extract-document",
      pages: expect.any(Number),
      fileName: expect.stringMatching(/^f\d\.txt$/),
      urls: { get: expect.stringMatching(`^${PROXY_ORIGIN}/jobs/`) },
    });
    const secondPage = (await (
      await proxyFetch("/jobs?count=2&offset=2", tenant.auth())
    ).json()) as {
      items: { id: string }[];
    };
    const listed = [...list.items.map((job) => job.id), ...secondPage.items.map((job) => job.id)];
    expect(listed.sort()).toEqual([...ids].sort());
  });

  it("never calls Waveline's account-wide list", async () => {
    const before = (await fakeWaveline.calls("/api/v1/jobs")).filter(
      (call) => call.path === "/api/v1/jobs",
    ).length;

    await proxyFetch("/jobs", acme.auth());

    const after = (await fakeWaveline.calls("/api/v1/jobs")).filter(
      (call) => call.path === "/api/v1/jobs",
    ).length;
    expect(after).toBe(before);
  });

  it.each([
    ["count=0", "count must be 1 to 100"],
    ["count=101", "count must be 1 to 100"],
    ["count=abc", "count must be a number"],
    ["count=1.5", "count must be an integer"],
    ["offset=-1", "offset must be 0 to 10000"],
  ])("answers 400 for %s, naming the field and its rule", async (query, error) => {
    const response = await proxyFetch(`/jobs?${query}`, acme.auth());

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error, code: "invalid_request" });
  });
});
