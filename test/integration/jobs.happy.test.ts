import { beforeAll, describe, expect, it } from "vitest";
import {
  fakeWaveline,
  ownedJobId,
  ownJob,
  PROXY_ORIGIN,
  proxyFetch,
  SEEDED,
  type TestTenant,
  tenantOwningSeededJobs,
  uniqueJobId,
  workerFetch,
} from "./helpers";

let acme: TestTenant;
beforeAll(async () => {
  acme = await tenantOwningSeededJobs();
});

describe("GET /jobs/{id}", () => {
  it("answers the job as Waveline sent it, with urls.get pointing back at the proxy", async () => {
    const response = await workerFetch(`/jobs/${SEEDED.completed}`, acme.auth());

    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
    const job = await response.json();
    expect(job).toMatchObject({
      id: SEEDED.completed,
      status: "COMPLETED",
      type: "extract-document",
      pages: 2,
      fileName: "invoice-0001.pdf",
      result: { invoiceNumber: "INV-0001" },
      urls: { get: `${PROXY_ORIGIN}/jobs/${SEEDED.completed}` },
    });
  });

  it("serves the same job under /api/v1, keeping that prefix in urls.get", async () => {
    const response = await proxyFetch(`/api/v1/jobs/${SEEDED.running}`, acme.auth());

    expect(response.status).toBe(200);
    const job = (await response.json()) as { status: string; urls: { get: string } };
    expect(job.status).toBe("RUNNING");
    expect(job.urls.get).toBe(`${PROXY_ORIGIN}/api/v1/jobs/${SEEDED.running}`);
  });

  it("answers FAILED and CREATED jobs as they are", async () => {
    for (const [id, status] of [
      [SEEDED.failed, "FAILED"],
      [SEEDED.created, "CREATED"],
    ]) {
      const response = await proxyFetch(`/jobs/${id}`, acme.auth());
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ id, status, result: null });
    }
  });

  it("keeps fields the upstream adds that the proxy does not know", async () => {
    const id = await ownedJobId(acme, "extra-fields");
    await fakeWaveline.fault({
      match: id,
      mode: "status",
      status: 200,
      body: {
        id,
        createdAt: "2026-11-30T08:00:00.000Z",
        status: "COMPLETED",
        type: "extract-document",
        pages: 3,
        fileName: "a.pdf",
        result: { total: 1 },
        urls: { get: `https://waveline.ai/api/v1/jobs/${id}`, cancel: "https://waveline.ai/x" },
        confidence: 0.93,
      },
    });

    const job = await (await proxyFetch(`/jobs/${id}`, acme.auth())).json();

    expect(job).toMatchObject({
      confidence: 0.93,
      urls: { get: `${PROXY_ORIGIN}/jobs/${id}`, cancel: "https://waveline.ai/x" },
    });
  });

  it("accepts an id of 128 characters and encodes it into the upstream path", async () => {
    const id = uniqueJobId("long").padEnd(128, "x");
    await ownJob(acme.id, id);

    const response = await proxyFetch(`/jobs/${id}`, acme.auth());

    expect(response.status).toBe(200);
    const [call] = await fakeWaveline.calls(id);
    expect(call?.path).toBe(`/api/v1/jobs/${id}`);
  });

  it("tags every answer with a request id, and keeps a well-formed one the client sent", async () => {
    const generated = await proxyFetch(`/jobs/${SEEDED.completed}`, acme.auth());
    expect(generated.headers.get("X-Request-Id")).toMatch(/^[\w-]{8,}$/);

    const given = await proxyFetch(
      "/jobs/bad%20id",
      acme.auth({ headers: { "X-Request-Id": "trace-123" } }),
    );
    expect(given.headers.get("X-Request-Id")).toBe("trace-123");
  });

  it("answers HEAD like GET without a body", async () => {
    const response = await proxyFetch(`/jobs/${SEEDED.completed}`, acme.auth({ method: "HEAD" }));

    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
  });
});

describe("GET /health", () => {
  it("answers ok without calling the upstream", async () => {
    const response = await proxyFetch("/health");

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });
});
