import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { connect } from "node:net";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type FakeWaveline, SEEDED_JOB_IDS, startFakeWaveline } from "./fake-waveline.js";

const KEY = "wl_fake_test_key_0123456789";
// Long enough that a loaded CI machine still sees every status while polling every 10 ms.
const STEP_MS = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

type JsonObject = Record<string, unknown>;
interface JobBody {
  id: string;
  createdAt: string;
  status: string;
  type: string;
  pages: number;
  fileName: string;
  result?: unknown;
  urls: { get: string };
}
interface RecordedCallBody {
  method: string;
  path: string;
  search: string;
  at: number;
  headers: Record<string, string>;
}

let fake: FakeWaveline;

beforeAll(async () => {
  fake = await startFakeWaveline({ apiKey: KEY, port: 0, stepMs: STEP_MS, quiet: true });
});

afterAll(async () => {
  await fake?.close();
});

const unique = (label: string): string => `${label}-${randomUUID()}`;

function api(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("Authorization")) headers.set("Authorization", `Bearer ${KEY}`);
  return fetch(`${fake.baseUrl}${path}`, { ...init, headers });
}

function postJson(path: string, body: unknown): Promise<Response> {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function getJob(id: string): Promise<JobBody> {
  const response = await api(`/jobs/${encodeURIComponent(id)}`);
  expect(response.status).toBe(200);
  return (await response.json()) as JobBody;
}

function control(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${fake.origin}/__control${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }),
  });
}

async function addFault(rule: JsonObject): Promise<string> {
  const response = await control("POST", "/faults", rule);
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function recordedCalls(match: string): Promise<{ total: number; calls: RecordedCallBody[] }> {
  const response = await control("GET", `/calls?match=${encodeURIComponent(match)}`);
  expect(response.status).toBe(200);
  return (await response.json()) as { total: number; calls: RecordedCallBody[] };
}

async function expectError(response: Response, status: number): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await response.json()) as JsonObject;
  expect(Object.keys(body)).toEqual(["error"]);
  expect(typeof body.error).toBe("string");
  return body.error as string;
}

/** Reads the job until it is terminal and returns every status seen, in order. */
async function statusesUntilTerminal(created: JobBody): Promise<{ seen: string[]; last: JobBody }> {
  const seen = [created.status];
  const deadline = Date.now() + 20 * STEP_MS;
  let last = created;
  while (last.status !== "COMPLETED" && last.status !== "FAILED") {
    if (Date.now() > deadline) throw new Error(`job stuck in ${last.status}`);
    await sleep(10);
    last = await getJob(created.id);
    if (seen.at(-1) !== last.status) seen.push(last.status);
  }
  return { seen, last };
}

describe("authentication", () => {
  it.each([
    ["no Authorization header", undefined],
    ["a wrong key", `Bearer ${KEY}-wrong`],
    ["another scheme", `Basic ${KEY}`],
  ])("answers 401 with %s, on every /api/v1 route", async (_label, authorization) => {
    const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
    for (const path of ["/me", `/jobs/${SEEDED_JOB_IDS.completed}`, "/jobs", "/jobs/", "/nope"]) {
      const response = await fetch(`${fake.baseUrl}${path}`, { headers });
      await expectError(response, 401);
    }
    const post = await fetch(`${fake.baseUrl}/extract-document`, { method: "POST", headers });
    await expectError(post, 401);
  });

  it("answers the account with the right key", async () => {
    const response = await api("/me");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: "acct_fake", email: "dev@example.com" });
  });
});

describe("seeded jobs", () => {
  const jobUrl = (id: string) => `${fake.baseUrl}/jobs/${id}`;

  it("serves the four seeded jobs with their documented fields", async () => {
    const expected = [
      {
        id: SEEDED_JOB_IDS.completed,
        status: "COMPLETED",
        type: "extract-document",
        fileName: "invoice-0001.pdf",
        pages: 2,
        result: {
          invoiceNumber: "INV-0001",
          total: 1250.5,
          currency: "EUR",
          lineItems: [{ description: "Consulting", amount: 1250.5 }],
        },
      },
      {
        id: SEEDED_JOB_IDS.running,
        status: "RUNNING",
        type: "extract-document",
        fileName: "contract.pdf",
        pages: 0,
        result: null,
      },
      {
        id: SEEDED_JOB_IDS.failed,
        status: "FAILED",
        type: "guess-shape",
        fileName: "scan-fail.png",
        pages: 1,
        result: null,
      },
      {
        id: SEEDED_JOB_IDS.created,
        status: "CREATED",
        type: "extract-document",
        fileName: "receipt.jpg",
        pages: 0,
        result: null,
      },
    ];
    for (const seed of expected) {
      const job = await getJob(seed.id);
      expect(job).toEqual({
        ...seed,
        createdAt: expect.any(String),
        urls: { get: jobUrl(seed.id) },
      });
      expect(Object.keys(job)).toEqual([
        "id",
        "createdAt",
        "status",
        "type",
        "pages",
        "fileName",
        "result",
        "urls",
      ]);
      expect(job.createdAt).toMatch(ISO_8601);
    }
  });

  it("answers urls.get with the same job", async () => {
    const job = await getJob(SEEDED_JOB_IDS.completed);
    const again = await fetch(job.urls.get, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(await again.json()).toEqual(job);
  });

  it("never moves seeded jobs on", async () => {
    await sleep(2 * STEP_MS + 20);
    expect((await getJob(SEEDED_JOB_IDS.created)).status).toBe("CREATED");
    expect((await getJob(SEEDED_JOB_IDS.running)).status).toBe("RUNNING");
  });
});

describe("errors", () => {
  it("answers 400 for an empty job id", async () => {
    expect(await expectError(await api("/jobs/"), 400)).toMatch(/id/i);
  });

  it("answers 404 for an unknown job", async () => {
    await expectError(await api(`/jobs/${randomUUID()}`), 404);
  });

  it("answers 404 Not found for unknown routes, in and out of /api/v1", async () => {
    for (const response of [
      await api("/nope"),
      await api(`/jobs/${SEEDED_JOB_IDS.completed}`, { method: "POST" }),
      await fetch(`${fake.origin}/nope`),
      await fetch(`${fake.origin}/__control/nope`),
    ]) {
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ error: "Not found" });
    }
  });

  it("answers RUNNING for any virtual- job id without seeding it", async () => {
    const id = unique("virtual-probe");
    const job = await getJob(id);
    expect(job).toMatchObject({ id, status: "RUNNING", type: "extract-document", result: null });
    expect(job.urls.get).toBe(`${fake.baseUrl}/jobs/${id}`);
  });
});

describe("job creation and lifecycle", () => {
  const shape = [
    { name: "invoiceNumber", type: "string", description: "The invoice number" },
    { name: "total", type: "number" },
    { name: "paid", type: "boolean" },
    { name: "tags", type: "string", isArray: true },
    {
      name: "vendor",
      type: "object",
      elements: [
        { name: "name", type: "string" },
        { name: "vatId", type: "string" },
      ],
    },
    {
      name: "lines",
      type: "object",
      isArray: true,
      elements: [{ name: "amount", type: "number" }],
    },
  ];

  it("creates an extract-document job that goes CREATED -> RUNNING -> COMPLETED", async () => {
    const response = await postJson("/extract-document", {
      fileName: "invoice.pdf",
      contentType: "application/pdf",
      content: "word ".repeat(1001),
      shape,
    });
    expect(response.status).toBe(201);
    const created = (await response.json()) as JobBody;
    expect(created).toEqual({
      id: expect.stringMatching(UUID),
      createdAt: expect.stringMatching(ISO_8601),
      status: "CREATED",
      type: "extract-document",
      pages: 3,
      fileName: "invoice.pdf",
      result: null,
      urls: { get: `${fake.baseUrl}/jobs/${created.id}` },
    });

    const { seen, last } = await statusesUntilTerminal(created);
    expect(seen).toEqual(["CREATED", "RUNNING", "COMPLETED"]);
    expect(last.result).toEqual({
      invoiceNumber: expect.stringMatching(/invoice number/i),
      total: 42,
      paid: true,
      tags: [expect.any(String)],
      vendor: { name: expect.any(String), vatId: expect.any(String) },
      lines: [{ amount: 42 }],
    });

    await sleep(2 * STEP_MS);
    expect(await getJob(created.id)).toEqual(last);
  });

  it("ends FAILED with a null result when the fileName contains fail", async () => {
    const response = await postJson("/extract-document", {
      fileName: "will-FAIL.pdf",
      contentType: "application/pdf",
      text: "hello",
    });
    const { seen, last } = await statusesUntilTerminal((await response.json()) as JobBody);
    expect(seen).toEqual(["CREATED", "RUNNING", "FAILED"]);
    expect(last.result).toBeNull();
  });

  it("completes guess-shape with a shape and raw-extract with the text", async () => {
    const document = { contentType: "text/plain", content: "Pay 12 EUR by Friday" };
    const guess = await postJson("/guess-shape", { ...document, fileName: "letter.txt" });
    const raw = await postJson("/raw-extract", { ...document, fileName: "note.txt" });
    expect([guess.status, raw.status]).toEqual([201, 201]);
    const guessId = ((await guess.json()) as JobBody).id;
    const rawId = ((await raw.json()) as JobBody).id;
    await sleep(2 * STEP_MS + 20);

    const guessed = await getJob(guessId);
    expect(guessed).toMatchObject({ type: "guess-shape", status: "COMPLETED" });
    const guessedShape = (guessed.result as { shape: JsonObject[] }).shape;
    expect(guessedShape.length).toBeGreaterThan(0);
    for (const element of guessedShape) {
      expect(element).toMatchObject({
        name: expect.any(String),
        type: expect.stringMatching(/^(string|number|boolean|object)$/),
      });
    }
    const extracted = await getJob(rawId);
    expect(extracted).toMatchObject({ type: "raw-extract", status: "COMPLETED" });
    expect(extracted.result).toEqual({ text: "Pay 12 EUR by Friday" });
  });

  it.each([
    ["no content", {}, 1],
    ["500 words", { content: "a ".repeat(500) }, 1],
    ["501 words in text", { text: "a ".repeat(501) }, 2],
    ["base64 data", { data: Buffer.from("b ".repeat(1500)).toString("base64") }, 3],
  ])("bills ceil(words / 500) pages, at least 1: %s", async (_label, document, pages) => {
    const response = await postJson("/raw-extract", {
      fileName: "doc.txt",
      contentType: "text/plain",
      ...document,
    });
    expect(response.status).toBe(201);
    expect(((await response.json()) as JobBody).pages).toBe(pages);
  });

  const pdf = { fileName: "a.pdf", contentType: "application/pdf" };
  it.each([
    ["no fileName", { contentType: "application/pdf" }, /fileName/],
    ["no contentType", { fileName: "a.pdf" }, /contentType/],
    [
      "a shape with an unknown type",
      { ...pdf, shape: [{ name: "when", type: "date" }] },
      /shape\[0\]/,
    ],
    ["a shape without elements", { ...pdf, shape: [{ name: "o", type: "object" }] }, /elements/],
    ["a non-string content", { ...pdf, content: 12 }, /content/],
  ])("answers 400 for %s", async (_label, body, message) => {
    expect(await expectError(await postJson("/extract-document", body), 400)).toMatch(message);
  });

  it("answers 400 for a body that is not a JSON object", async () => {
    for (const body of ["{not json", "[1, 2]", ""]) {
      const response = await api("/guess-shape", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body,
      });
      await expectError(response, 400);
    }
    const plain = await api("/guess-shape", {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ fileName: "a.pdf", contentType: "application/pdf" }),
    });
    await expectError(plain, 400);
  });
});

describe("job list", () => {
  interface ListBody {
    items: JobBody[];
    offset: number;
    count: number;
    total: number;
  }

  async function list(query: string): Promise<ListBody> {
    const response = await api(`/jobs${query}`);
    expect(response.status).toBe(200);
    return (await response.json()) as ListBody;
  }

  it("lists jobs newest first, without their result", async () => {
    const first = (await (
      await postJson("/raw-extract", { fileName: "1.txt", contentType: "text/plain" })
    ).json()) as JobBody;
    const second = (await (
      await postJson("/raw-extract", { fileName: "2.txt", contentType: "text/plain" })
    ).json()) as JobBody;

    const page = await list("");
    expect(page).toMatchObject({ offset: 0, count: 10 });
    expect(page.items.length).toBe(Math.min(10, page.total));
    expect(page.items.slice(0, 2).map((job) => job.id)).toEqual([second.id, first.id]);
    for (const item of page.items) {
      expect(item).not.toHaveProperty("result");
      expect(item).toMatchObject({ id: expect.any(String), status: expect.any(String) });
    }
  });

  it("pages with count and offset", async () => {
    const everything = await list("?count=100");
    expect(everything.total).toBeGreaterThanOrEqual(6);
    const window = await list("?count=2&offset=1");
    expect(window).toMatchObject({ offset: 1, count: 2, total: everything.total });
    expect(window.items.map((job) => job.id)).toEqual(
      everything.items.slice(1, 3).map((job) => job.id),
    );
    const beyond = await list(`?offset=${everything.total}`);
    expect(beyond.items).toEqual([]);
    expect(everything.items.at(-1)?.id).toBe(SEEDED_JOB_IDS.completed);
  });

  it.each(["count=0", "count=101", "count=abc", "count=", "offset=-1", "offset=1.5"])(
    "answers 400 for %s",
    async (query) => {
      await expectError(await api(`/jobs?${query}`), 400);
    },
  );
});

describe("faults", () => {
  it("status: answers the given status, default body and headers", async () => {
    const id = unique("virtual-fault-status");
    await addFault({ match: id, mode: "status", status: 503, headers: { "Retry-After": "7" } });
    const response = await api(`/jobs/${id}`);
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("7");
    expect(await response.json()).toEqual({ error: "fake fault 503" });
  });

  it("status: answers a given JSON body, or a string body verbatim", async () => {
    const jsonId = unique("virtual-fault-body");
    await addFault({ match: jsonId, mode: "status", status: 400, body: { error: "fileName bad" } });
    expect(await (await api(`/jobs/${jsonId}`)).json()).toEqual({ error: "fileName bad" });

    const textId = unique("virtual-fault-text");
    await addFault({
      match: textId,
      mode: "status",
      status: 502,
      body: "<html>bad gateway</html>",
    });
    const response = await api(`/jobs/${textId}`);
    expect(response.status).toBe(502);
    expect(await response.text()).toBe("<html>bad gateway</html>");
  });

  it("stops after `times` matching requests", async () => {
    const id = unique("virtual-fault-times");
    await addFault({ match: id, mode: "status", status: 500, times: 2 });
    expect((await api(`/jobs/${id}`)).status).toBe(500);
    expect((await api(`/jobs/${id}`)).status).toBe(500);
    expect((await api(`/jobs/${id}`)).status).toBe(200);
  });

  it("is checked after authentication, so a 401 does not use it up", async () => {
    const id = unique("virtual-fault-auth");
    await addFault({ match: id, mode: "status", status: 500, times: 1 });
    await expectError(await api(`/jobs/${id}`, { headers: { Authorization: "Bearer nope" } }), 401);
    expect((await api(`/jobs/${id}`)).status).toBe(500);
  });

  it("applies to POSTs whose path matches", async () => {
    await addFault({ match: "/guess-shape", mode: "status", status: 429, times: 1 });
    const body = { fileName: "a.pdf", contentType: "application/pdf" };
    expect((await postJson("/guess-shape", body)).status).toBe(429);
    expect((await postJson("/guess-shape", body)).status).toBe(201);
  });

  it("applies only to requests whose body holds bodyIncludes, when given", async () => {
    const fileName = unique("scoped.pdf");
    await addFault({ match: "/guess-shape", bodyIncludes: fileName, mode: "status", status: 503 });
    const other = { fileName: unique("other.pdf"), contentType: "application/pdf" };
    expect((await postJson("/guess-shape", other)).status).toBe(201);
    expect((await postJson("/guess-shape", { ...other, fileName })).status).toBe(503);
    expect(
      (await control("POST", "/faults", { match: "/x", mode: "hang", bodyIncludes: "" })).status,
    ).toBe(400);
    expect((await control("DELETE", "/faults")).status).toBe(204);
  });

  it("can be removed one by one or all at once", async () => {
    const id = unique("fault-removed");
    const faultId = await addFault({ match: id, mode: "status", status: 500 });
    expect((await api(`/jobs/${id}`)).status).toBe(500);
    expect((await control("DELETE", `/faults/${faultId}`)).status).toBe(204);
    expect((await api(`/jobs/${id}`)).status).toBe(404);

    await addFault({ match: id, mode: "status", status: 500 });
    expect((await control("DELETE", "/faults")).status).toBe(204);
    expect((await api(`/jobs/${id}`)).status).toBe(404);
  });

  it("delay: answers normally after delayMs, an unknown id as a RUNNING job", async () => {
    const id = unique("fault-delay");
    await addFault({ match: id, mode: "delay", delayMs: 300 });
    const started = performance.now();
    const job = await getJob(id);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(job).toMatchObject({ id, status: "RUNNING" });
  });

  it("hang: never answers", async () => {
    const id = unique("virtual-fault-hang");
    await addFault({ match: id, mode: "hang" });
    await expect(api(`/jobs/${id}`, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
  });

  it("drop: closes the connection without an answer", async () => {
    const id = unique("virtual-fault-drop");
    await addFault({ match: id, mode: "drop" });
    await expect(api(`/jobs/${id}`)).rejects.toThrow();
  });

  it("truncate: sends half a job and then closes the connection", async () => {
    const id = unique("virtual-fault-truncate");
    await addFault({ match: id, mode: "truncate" });
    const read = async () => {
      const response = await api(`/jobs/${id}`);
      expect(response.status).toBe(200);
      return response.text();
    };
    await expect(read()).rejects.toThrow();
  });

  it("malformed: answers 200 JSON that does not parse", async () => {
    const id = unique("virtual-fault-malformed");
    await addFault({ match: id, mode: "malformed" });
    const response = await api(`/jobs/${id}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    const text = await response.text();
    expect(text).toBe('{"id": "x", not json');
    expect(() => JSON.parse(text)).toThrow();
  });

  it("offschema: answers 200 JSON that is not a job", async () => {
    const id = unique("virtual-fault-offschema");
    await addFault({ match: id, mode: "offschema" });
    const response = await api(`/jobs/${id}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: 12, status: "WEIRD" });
  });

  it("huge: answers a COMPLETED job with a result string of `bytes` bytes (5 MiB by default)", async () => {
    const id = unique("virtual-fault-huge");
    await addFault({ match: id, mode: "huge", bytes: 1_000_000, times: 1 });
    const small = await getJob(id);
    expect(small).toMatchObject({ id, status: "COMPLETED" });
    expect((small.result as { text: string }).text).toHaveLength(1_000_000);

    await addFault({ match: id, mode: "huge", times: 1 });
    const big = await getJob(id);
    expect((big.result as { text: string }).text).toHaveLength(5 * 1024 * 1024);
  });

  it("endless: answers 200 with a job body that never ends and has no Content-Length", async () => {
    const id = unique("virtual-fault-endless");
    await addFault({ match: id, mode: "endless", times: 1 });
    const response = await api(`/jobs/${id}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-length")).toBeNull();
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (text.length < 1_000_000) {
      const { done, value } = await reader.read();
      expect(done).toBe(false);
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    expect(text.startsWith(`{"id":"${id}"`)).toBe(true);
  });

  it("other-id: answers the asked job under another id, the one in `body` if given", async () => {
    const id = unique("virtual-fault-other-id");
    await addFault({ match: id, mode: "other-id", body: "someone-elses-job", times: 1 });
    expect(await getJob(id)).toMatchObject({ id: "someone-elses-job", status: "RUNNING" });

    await addFault({ match: id, mode: "other-id", times: 1 });
    const answered = await getJob(id);
    expect(answered.id).toMatch(UUID);
    expect(answered.id).not.toBe(id);
  });

  it("unknown-status: answers the asked job with a status Waveline does not document yet", async () => {
    const id = unique("virtual-fault-unknown-status");
    await addFault({ match: id, mode: "unknown-status", times: 1 });
    expect(await getJob(id)).toMatchObject({ id, status: "QUEUED", result: null });

    await addFault({ match: id, mode: "unknown-status", body: "PAUSED", times: 1 });
    expect(await getJob(id)).toMatchObject({ id, status: "PAUSED" });
  });

  it.each([
    ["no match", { mode: "hang" }],
    ["an unknown mode", { match: "x", mode: "explode" }],
    ["a bad status", { match: "x", mode: "status", status: 99 }],
    ["a bad header", { match: "x", mode: "status", headers: { "Bad Name": "1" } }],
    ["a bad times", { match: "x", mode: "drop", times: 0 }],
  ])("is refused with 400 for %s", async (_label, rule) => {
    const response = await control("POST", "/faults", rule);
    expect(response.status).toBe(400);
  });
});

describe("control jobs", () => {
  it("creates a static job and patches it to COMPLETED when the test says so", async () => {
    const id = unique("ctl");
    const created = await control("POST", "/jobs", { id, status: "RUNNING", fileName: "c.pdf" });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ id, status: "RUNNING", fileName: "c.pdf" });

    await sleep(2 * STEP_MS + 20);
    expect((await getJob(id)).status).toBe("RUNNING");

    const patched = await control("PATCH", `/jobs/${id}`, {
      status: "COMPLETED",
      result: { total: 7 },
      pages: 4,
    });
    expect(patched.status).toBe(200);
    expect(await getJob(id)).toMatchObject({
      id,
      status: "COMPLETED",
      result: { total: 7 },
      pages: 4,
    });
  });

  it("makes a result when patched to COMPLETED without one, and a sized result on request", async () => {
    const id = unique("ctl-default");
    await control("POST", "/jobs", { id, status: "CREATED" });
    await control("PATCH", `/jobs/${id}`, { status: "COMPLETED" });
    expect((await getJob(id)).result).toEqual(expect.any(Object));

    const sized = await control("POST", "/jobs", { status: "COMPLETED", resultBytes: 20_000 });
    const job = (await sized.json()) as JobBody;
    expect(job.id).toMatch(UUID);
    expect(JSON.stringify((await getJob(job.id)).result).length).toBe(20_000);
  });

  it("serves ids that need percent-encoding", async () => {
    const id = `ctl odd/id ${randomUUID()}`;
    await control("POST", "/jobs", { id, status: "FAILED" });
    const job = await getJob(id);
    expect(job).toMatchObject({ id, status: "FAILED", result: null });
    expect(job.urls.get).toBe(`${fake.baseUrl}/jobs/${encodeURIComponent(id)}`);
  });

  it("gives the next job created with a fileName the id the test chose, once", async () => {
    const fileName = unique("chosen.txt");
    const id = `chosen id é/?# ${randomUUID()}`;
    expect((await control("POST", "/job-ids", { fileName, id })).status).toBe(201);
    const body = { fileName, contentType: "text/plain", content: "one" };

    const first = (await (await postJson("/extract-document", body)).json()) as JobBody;
    const second = (await (await postJson("/extract-document", body)).json()) as JobBody;

    expect(first.id).toBe(id);
    expect(first.urls.get).toBe(`${fake.baseUrl}/jobs/${encodeURIComponent(id)}`);
    expect(await getJob(id)).toMatchObject({ id, fileName });
    expect(second.id).toMatch(UUID);
    expect((await control("POST", "/job-ids", { fileName })).status).toBe(400);
  });

  it("answers 404 for patching an unknown job, 409 for a taken id, 400 for a bad status", async () => {
    expect((await control("PATCH", `/jobs/${randomUUID()}`, { status: "RUNNING" })).status).toBe(
      404,
    );
    expect(
      (await control("POST", "/jobs", { id: SEEDED_JOB_IDS.completed, status: "RUNNING" })).status,
    ).toBe(409);
    expect((await control("POST", "/jobs", { status: "DONE" })).status).toBe(400);
  });
});

describe("call recording", () => {
  it("records /api/v1 calls with the headers as received, filtered by match", async () => {
    const id = unique("virtual-calls");
    const before = Date.now();
    await api(`/jobs/${id}`, {
      headers: {
        Accept: "application/json",
        Cookie: "session=abc",
        "X-Forwarded-For": "203.0.113.9",
      },
    });
    await api(`/jobs/${id}`, { headers: { Authorization: "Bearer wrong" } });

    const { total, calls } = await recordedCalls(id);
    expect(total).toBe(2);
    expect(calls).toHaveLength(2);
    expect(calls[0]).toEqual({
      method: "GET",
      path: `/api/v1/jobs/${id}`,
      search: "",
      at: expect.any(Number),
      headers: expect.objectContaining({
        authorization: `Bearer ${KEY}`,
        accept: "application/json",
        cookie: "session=abc",
        "x-forwarded-for": "203.0.113.9",
      }),
      body: "",
    });
    expect(calls[0]?.at).toBeGreaterThanOrEqual(before);
    expect(calls[1]?.headers.authorization).toBe("Bearer wrong");

    expect(await recordedCalls(unique("nobody"))).toEqual({ total: 0, calls: [] });
  });

  it("matches the query string too, and leaves control calls out", async () => {
    await api("/jobs?count=7&offset=3");
    const { calls } = await recordedCalls("count=7&offset=3");
    expect(calls.map((call) => [call.path, call.search])).toEqual([
      ["/api/v1/jobs", "?count=7&offset=3"],
    ]);
    expect((await recordedCalls("/__control")).total).toBe(0);
  });
});

describe("latency, logging and shutdown", () => {
  it("adds latencyMs to /api/v1 answers only", async () => {
    const slow = await startFakeWaveline({ apiKey: KEY, latencyMs: 150, quiet: true });
    try {
      const started = performance.now();
      const response = await fetch(`${slow.baseUrl}/me`);
      expect(response.status).toBe(401);
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
      const health = await fetch(`${slow.origin}/__control/health`);
      expect(await health.json()).toEqual({ ok: true });
    } finally {
      await slow.close();
    }
  });

  it("logs one line per request without the key, and nothing when quiet", async () => {
    const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const loud = await startFakeWaveline({ apiKey: KEY });
    try {
      await fetch(`${loud.baseUrl}/me`, { headers: { Authorization: `Bearer ${KEY}` } });
      await fetch(`${fake.baseUrl}/me`, { headers: { Authorization: `Bearer ${KEY}` } });
      await sleep(20);
      const lines = write.mock.calls
        .map(([chunk]) => String(chunk))
        .filter((line) => line.includes("fake-waveline"));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/GET \/api\/v1\/me 200 \d+ms/);
      expect(lines.join("")).not.toContain(KEY);
    } finally {
      write.mockRestore();
      await loud.close();
    }
  });

  it("keeps an idle keep-alive connection open past Node's 5 s default", async () => {
    // workerd reuses pooled connections: one the server closed just then fails the next call.
    const socket = connect(fake.port, "127.0.0.1");
    let closed = false;
    socket.once("close", () => {
      closed = true;
    });
    const health = async () => {
      const answer = once(socket, "data");
      socket.write(
        "GET /__control/health HTTP/1.1\r\nHost: fake\r\nConnection: keep-alive\r\n\r\n",
      );
      return String((await answer)[0]);
    };
    try {
      expect(await health()).toMatch(/^HTTP\/1\.1 200 /);
      await sleep(7000);
      expect(closed).toBe(false);
      expect(await health()).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      socket.destroy();
    }
  }, 20_000);

  it("closes promptly with a hanging request open", async () => {
    const doomed = await startFakeWaveline({ apiKey: KEY, quiet: true });
    await fetch(`${doomed.origin}/__control/faults`, {
      method: "POST",
      body: JSON.stringify({ match: "/me", mode: "hang" }),
    });
    const hanging = fetch(`${doomed.baseUrl}/me`, { headers: { Authorization: `Bearer ${KEY}` } });
    hanging.catch(() => undefined);
    await sleep(50);
    const started = performance.now();
    await doomed.close();
    expect(performance.now() - started).toBeLessThan(1000);
    await expect(hanging).rejects.toThrow();
  });
});

describe("command line", () => {
  const script = fileURLToPath(new URL("./fake-waveline.ts", import.meta.url));
  const root = dirname(dirname(script));

  function firstLine(child: ChildProcessWithoutNullStreams): Promise<string> {
    return new Promise((resolve, reject) => {
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const newline = output.indexOf("\n");
        if (newline !== -1) resolve(output.slice(0, newline));
      });
      child.once("exit", (code) => reject(new Error(`exited ${code} before listening`)));
    });
  }

  it("starts from flags and env, prints where it listens and stops cleanly on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", script, "--port", "0", "--step", "50"],
      {
        cwd: root,
        env: { ...process.env, FAKE_WAVELINE_KEY: "cli-key-xyz" },
      },
    );
    try {
      const line = await firstLine(child);
      const baseUrl = /^fake Waveline listening on (http:\/\/127\.0\.0\.1:\d+\/api\/v1)$/.exec(
        line,
      )?.[1];
      expect(baseUrl).toBeDefined();
      const response = await fetch(`${baseUrl}/me`, {
        headers: { Authorization: "Bearer cli-key-xyz" },
      });
      expect(response.status).toBe(200);

      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

describe("call bodies", () => {
  it("keeps the first 2 KiB of a call's body and filters calls by bodyIncludes", async () => {
    const fileName = unique("recorded.txt");
    await postJson("/guess-shape", { fileName, contentType: "text/plain", pad: "x".repeat(4096) });

    const response = await control(
      "GET",
      `/calls?match=/guess-shape&bodyIncludes=${encodeURIComponent(fileName)}`,
    );
    const { calls } = (await response.json()) as { calls: (RecordedCallBody & { body: string })[] };

    expect(calls).toHaveLength(1);
    expect(calls[0]?.body).toContain(fileName);
    expect(calls[0]?.body.length).toBe(2048);
  });
});

describe("reset", () => {
  it("clears faults, calls and created jobs and restores the seeds", async () => {
    const created = (await (
      await postJson("/raw-extract", { fileName: "r.txt", contentType: "text/plain" })
    ).json()) as JobBody;
    const faultedId = unique("virtual-reset");
    await addFault({ match: faultedId, mode: "status", status: 500 });
    await control("PATCH", `/jobs/${SEEDED_JOB_IDS.running}`, { status: "COMPLETED" });

    expect((await control("POST", "/reset")).status).toBe(204);

    expect((await recordedCalls("")).total).toBe(0);
    await expectError(await api(`/jobs/${created.id}`), 404);
    expect((await getJob(faultedId)).status).toBe("RUNNING");
    expect(await getJob(SEEDED_JOB_IDS.running)).toMatchObject({ status: "RUNNING", result: null });
    const list = (await (await api("/jobs")).json()) as { total: number };
    expect(list.total).toBe(4);
  });
});
