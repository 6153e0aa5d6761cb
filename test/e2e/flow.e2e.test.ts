import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "./test-stack";

/**
 * The whole product over real HTTP: an operator sets up two tenants, a backend creates a job and
 * mints a browser token, a browser-like client polls the job to the end through the edge cache,
 * and nobody sees what is not theirs. `wrangler dev` and the fake Waveline run as real processes.
 */
describe("the whole flow, end to end", () => {
  let stack: TestStack;
  const origin = "https://app.acme.example";
  let acmeKey: string;
  let globexKey: string;
  let acmeId: string;

  const call = (path: string, init: RequestInit = {}, credential?: string) => {
    const headers = new Headers(init.headers);
    if (credential) headers.set("Authorization", `Bearer ${credential}`);
    if (init.body) headers.set("Content-Type", "application/json");
    return fetch(`${stack.proxyUrl}${path}`, { ...init, headers });
  };
  const admin = (path: string, body?: unknown, method = body ? "POST" : "GET") =>
    call(
      path,
      { method, body: body === undefined ? undefined : JSON.stringify(body) },
      stack.vars.ADMIN_TOKEN,
    );

  beforeAll(async () => {
    stack = await startTestStack();
    for (const [name, origins] of [
      ["acme", [origin]],
      ["globex", []],
    ] as const) {
      const tenant = (await (
        await admin("/admin/tenants", { name, allowedOrigins: origins })
      ).json()) as {
        id: string;
      };
      const { key } = (await (
        await admin(`/admin/tenants/${tenant.id}/keys`, { name: "backend" })
      ).json()) as {
        key: string;
      };
      if (name === "acme") {
        acmeKey = key;
        acmeId = tenant.id;
      } else {
        globexKey = key;
      }
    }
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("creates a job, polls it to COMPLETED through the cache, and revalidates with its ETag", async () => {
    const document = {
      fileName: "invoice.txt",
      contentType: "text/plain",
      content: "Invoice INV-77, total 99 EUR",
      shape: [{ name: "total", type: "number" }],
    };
    const created = await call(
      "/extract-document",
      { method: "POST", body: JSON.stringify(document) },
      acmeKey,
    );
    expect(created.status).toBe(201);
    const job = (await created.json()) as { id: string; urls: { get: string } };
    expect(job.urls.get).toBe(`${stack.proxyUrl}/jobs/${job.id}`);

    let finished: Response | undefined;
    const statuses: string[] = [];
    for (let poll = 0; poll < 40 && !finished; poll++) {
      const response = await fetch(job.urls.get, {
        headers: { Authorization: `Bearer ${acmeKey}` },
      });
      const body = (await response.clone().json()) as { status: string };
      statuses.push(body.status);
      if (body.status === "COMPLETED") finished = response;
      else await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(finished?.status).toBe(200);
    expect(statuses).toContain("RUNNING");
    const done = (await (finished as Response).json()) as { result: { total: number } };
    expect(done.result.total).toBe(42);

    const again = await call(`/jobs/${job.id}`, {}, acmeKey);
    expect(again.headers.get("X-Cache")).toMatch(/^HIT/);
    const etag = again.headers.get("ETag") ?? "";
    const revalidated = await call(
      `/jobs/${job.id}`,
      { headers: { "If-None-Match": etag } },
      acmeKey,
    );
    expect(revalidated.status).toBe(304);

    expect((await call(`/jobs/${job.id}`, {}, globexKey)).status).toBe(404);
  });

  it("lets a browser token from the tenant's origin create and read only its own user's jobs", async () => {
    const minted = await call(
      "/tokens",
      {
        method: "POST",
        body: JSON.stringify({ sub: "user-7", scopes: ["jobs:read", "jobs:create"] }),
      },
      acmeKey,
    );
    const { token } = (await minted.json()) as { token: string };
    const preflight = await call("/jobs", {
      method: "OPTIONS",
      headers: { Origin: origin, "Access-Control-Request-Method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("Access-Control-Allow-Origin")).toBe(origin);

    const created = await call(
      "/guess-shape",
      {
        method: "POST",
        headers: { Origin: origin },
        body: JSON.stringify({ fileName: "scan.png", contentType: "image/png", data: "aGVsbG8=" }),
      },
      token,
    );
    expect(created.status).toBe(201);
    expect(created.headers.get("Access-Control-Allow-Origin")).toBe(origin);
    const { id } = (await created.json()) as { id: string };

    const list = (await (await call("/jobs", { headers: { Origin: origin } }, token)).json()) as {
      items: { id: string }[];
    };
    expect(list.items.map((item) => item.id)).toEqual([id]);
    const elsewhere = await call("/jobs", { headers: { Origin: "https://evil.example" } }, token);
    expect(elsewhere.status).toBe(403);
  });

  it("stops a revoked key and reports usage to the operator", async () => {
    const keys = (await (await admin(`/admin/tenants/${acmeId}/keys`)).json()) as {
      items: { id: string }[];
    };
    const usage = (await (await admin(`/admin/tenants/${acmeId}/usage`)).json()) as {
      jobsCreated: number;
      pagesBilled: number;
    };
    expect(usage.jobsCreated).toBe(2);
    expect(usage.pagesBilled).toBeGreaterThan(0);

    const revoked = await admin(
      `/admin/tenants/${acmeId}/keys/${keys.items[0]?.id}`,
      undefined,
      "DELETE",
    );
    expect(revoked.status).toBe(204);
    expect((await call("/jobs", {}, acmeKey)).status).toBe(401);
  });

  it("records a job whose caller hung up while Waveline was still creating it", async () => {
    const fileName = `hang-up-${crypto.randomUUID()}.txt`;
    const fault = await fetch(`${stack.fake?.origin}/__control/faults`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        match: "/extract-document",
        bodyIncludes: fileName,
        mode: "delay",
        delayMs: 1500,
        times: 1,
      }),
    });
    expect(fault.status).toBe(201);

    const abandoned = call(
      "/extract-document",
      {
        method: "POST",
        body: JSON.stringify({ fileName, contentType: "text/plain", content: "one two" }),
        signal: AbortSignal.timeout(300),
      },
      globexKey,
    );

    await expect(abandoned).rejects.toThrow();
    let listed: { fileName: string }[] = [];
    for (let waited = 0; waited < 10_000 && listed.length === 0; waited += 250) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const page = (await (await call("/jobs?count=100", {}, globexKey)).json()) as {
        items: { fileName: string }[];
      };
      listed = page.items.filter((item) => item.fileName === fileName);
    }
    expect(listed).toHaveLength(1);
  });

  it("counts the pages of a job nobody reads, by itself (the settler's alarm)", async () => {
    const tenant = (await (await admin("/admin/tenants", { name: "initech" })).json()) as {
      id: string;
    };
    const { key } = (await (
      await admin(`/admin/tenants/${tenant.id}/keys`, { name: "backend" })
    ).json()) as { key: string };
    const created = await call(
      "/extract-document",
      {
        method: "POST",
        body: JSON.stringify({ fileName: "unread.txt", contentType: "text/plain", content: "a b" }),
      },
      key,
    );
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    // Upstream the job ends at 40 pages; nobody reads it through the proxy.
    const patched = await fetch(`${stack.fake?.origin}/__control/jobs/${id}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ status: "COMPLETED", pages: 40 }),
    });
    expect(patched.status).toBe(200);

    let billed = 0;
    for (let waited = 0; waited < 40_000 && billed !== 40; waited += 1_000) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const usage = (await (await admin(`/admin/tenants/${tenant.id}/usage`)).json()) as {
        pagesBilled: number;
      };
      billed = usage.pagesBilled;
    }
    expect(billed).toBe(40);
  });
});
