import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type JobProgress, WavelineProxyError } from "../../client/index";
import { startTestStack, type TestStack } from "../e2e/test-stack";

/**
 * The client against the real proxy (`wrangler dev` and the fake Waveline, over HTTP): a backend
 * with its API key creates a job and mints a token, and a browser-like client waits for the job.
 */
// Three wrangler processes start before the first test: slow on a busy 2-core machine.
const STACK_START_TIMEOUT_MS = 120_000;

describe("the client against a real proxy", () => {
  let stack: TestStack;
  let apiKey: string;

  const admin = async (path: string, body: unknown) => {
    const response = await fetch(`${stack.proxyUrl}${path}`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${stack.vars.ADMIN_TOKEN}`,
        "Content-Type": "application/json",
      },
      body: JSON.stringify(body),
    });
    return (await response.json()) as Record<string, string>;
  };

  const mintToken = async (body: unknown) => {
    const response = await fetch(`${stack.proxyUrl}/tokens`, {
      method: "POST",
      headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return ((await response.json()) as { token: string }).token;
  };

  beforeAll(async () => {
    stack = await startTestStack();
    const tenant = await admin("/admin/tenants", { name: "client", allowedOrigins: [] });
    apiKey = (await admin(`/admin/tenants/${tenant.id}/keys`, { name: "backend" })).key ?? "";
  }, STACK_START_TIMEOUT_MS);

  afterAll(async () => {
    await stack?.stop();
  });

  it("creates a job with the API key and waits for it with a browser token over the live stream", async () => {
    const backend = createClient({ baseUrl: `${stack.proxyUrl}/api/v1`, token: apiKey });
    const created = await backend.createExtraction({
      fileName: "invoice.txt",
      contentType: "text/plain",
      content: "Invoice INV-8, total 12 EUR",
      shape: [
        { name: "invoiceNumber", type: "string" },
        { name: "total", type: "number" },
      ],
    });
    const token = await mintToken({ jobs: [created.id], scopes: ["jobs:read"] });
    const browser = createClient({ baseUrl: stack.proxyUrl, getToken: () => token });
    const progress: JobProgress[] = [];

    const job = await browser.waitForJob(created.id, {
      onProgress: (update) => progress.push(update),
    });

    expect(job).toMatchObject({ id: created.id, status: "COMPLETED", result: { total: 42 } });
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.every((update) => update.via === "stream")).toBe(true);
    const order = ["CREATED", "RUNNING", "COMPLETED"];
    const ranks = progress.map((update) => order.indexOf(update.job.status));
    expect(ranks).toEqual([...ranks].sort());
    expect(new Set(ranks).size).toBe(ranks.length);

    const page = await backend.listJobs({ count: 5 });
    expect(page).toMatchObject({ count: 5, offset: 0, total: 1 });
    expect(page.items[0]?.id).toBe(created.id);
    expect(await browser.getJob(created.id)).toEqual(job);
  });

  it("rejects with typed errors carrying the proxy's status, message and request id", async () => {
    const reader = createClient({ baseUrl: stack.proxyUrl, token: await mintToken({}) });

    const missing = await reader.getJob("no-such-job").catch((err: unknown) => err);
    const refused = await reader
      .guessShape({ fileName: "a.txt", contentType: "text/plain", content: "hi" })
      .catch((err: unknown) => err);
    const anonymous = await createClient({ baseUrl: stack.proxyUrl })
      .listJobs()
      .catch((err: unknown) => err);

    expect(missing).toBeInstanceOf(WavelineProxyError);
    expect(missing).toMatchObject({ status: 404, code: "job_not_found", error: "job not found" });
    expect((missing as WavelineProxyError).requestId).toMatch(/\S/);
    expect(refused).toMatchObject({
      status: 403,
      code: "scope_missing",
      error: "the token lacks the jobs:create scope",
    });
    expect(anonymous).toMatchObject({
      status: 401,
      code: "authentication_failed",
      error: "missing or invalid credentials",
    });
  });

  it("stops polling a running job promptly when aborted", async () => {
    const controller = new AbortController();
    const client = createClient({ baseUrl: stack.proxyUrl, token: apiKey });
    const { id } = await client.createExtraction({
      fileName: "slow.txt",
      contentType: "text/plain",
      content: "x",
    });
    let polls = 0;

    const started = Date.now();
    const outcome = client
      .waitForJob(id, {
        signal: controller.signal,
        onProgress: () => {
          polls += 1;
          controller.abort();
        },
      })
      .catch((err: unknown) => err);

    expect(await outcome).toMatchObject({ name: "AbortError" });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(polls).toBe(1);
  });

  it("watchJob follows a job to COMPLETED over the stream with the backend's key", async () => {
    const client = createClient({ baseUrl: `${stack.proxyUrl}/api/v1`, token: apiKey });
    const { id } = await client.guessShape({
      fileName: "watched.txt",
      contentType: "text/plain",
      content: "a b c",
    });
    const seen: string[] = [];

    const job = await client.watchJob(id, { onProgress: (update) => seen.push(update.job.status) });

    expect(job).toMatchObject({ id, status: "COMPLETED" });
    expect(seen.at(-1)).toBe("COMPLETED");
    expect(job.urls.get).toBe(`${stack.proxyUrl}/api/v1/jobs/${id}`);
  });
});
