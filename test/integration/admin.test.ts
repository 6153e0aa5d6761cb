import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { TEST_ADMIN_TOKEN } from "../constants";
import {
  asAdmin,
  createTenant,
  fakeWaveline,
  jsonBody,
  proxyFetch,
  SEEDED,
  type TestTenant,
  uniqueJobId,
  withBearer,
} from "./helpers";

const DOCUMENT = { fileName: "usage.txt", contentType: "text/plain", content: "one two three" };

describe("admin authentication", () => {
  it.each([
    ["no token", {}],
    ["a wrong token", { Authorization: "Bearer nope" }],
  ])("answers 401 to %s, even for paths that do not exist", async (_, headers) => {
    for (const path of ["/admin/tenants", "/admin/nothing-here"]) {
      const response = await proxyFetch(path, { headers });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({
        error: "missing or invalid credentials",
        code: "authentication_failed",
      });
    }
  });

  it("does not accept the admin token as a tenant credential", async () => {
    const response = await proxyFetch("/jobs", withBearer(TEST_ADMIN_TOKEN));

    expect(response.status).toBe(401);
  });
});

describe("tenants", () => {
  it("are created, listed, read and updated", async () => {
    const created = await proxyFetch(
      "/admin/tenants",
      asAdmin(
        jsonBody({
          name: "acme",
          allowedOrigins: ["https://app.acme.example", "http://localhost:5173"],
        }),
      ),
    );
    expect(created.status).toBe(201);
    const tenant = (await created.json()) as { id: string };
    expect(tenant).toMatchObject({
      id: expect.stringMatching(/^tnt_/),
      name: "acme",
      allowedOrigins: ["http://localhost:5173", "https://app.acme.example"],
      disabled: false,
    });

    const listed = (await (await proxyFetch("/admin/tenants", asAdmin())).json()) as {
      items: { id: string }[];
    };
    expect(listed.items.map((t) => t.id)).toContain(tenant.id);

    const patched = await proxyFetch(
      `/admin/tenants/${tenant.id}`,
      asAdmin(
        jsonBody(
          { name: "acme corp", allowedOrigins: ["https://new.acme.example"] },
          { method: "PATCH" },
        ),
      ),
    );
    expect(await patched.json()).toMatchObject({
      name: "acme corp",
      allowedOrigins: ["https://new.acme.example"],
    });
    expect(await (await proxyFetch(`/admin/tenants/${tenant.id}`, asAdmin())).json()).toMatchObject(
      {
        name: "acme corp",
      },
    );
  });

  it.each([
    [{ name: "" }, /^name must not be empty/],
    [
      { name: "x", allowedOrigins: ["https://app.example/path"] },
      /^allowedOrigins\.0 must be origins/,
    ],
    [{ name: "x", allowedOrigins: ["*"] }, /^allowedOrigins\.0 must be origins/],
    [{ allowedOrigins: [] }, /^name /],
  ])("answers 400 for %j", async (body, error) => {
    const response = await proxyFetch("/admin/tenants", asAdmin(jsonBody(body)));

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: expect.stringMatching(error),
      code: "invalid_request",
    });
  });

  it("answers 400 for a body that is not JSON", async () => {
    const response = await proxyFetch(
      "/admin/tenants",
      asAdmin({ method: "POST", body: "{", headers: { "Content-Type": "application/json" } }),
    );

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: expect.any(String), code: "invalid_json" });
  });

  it("answers 404 for a tenant that does not exist", async () => {
    for (const response of [
      await proxyFetch(
        "/admin/tenants/tnt_missing",
        asAdmin(jsonBody({ allowedOrigins: ["https://a.example"] }, { method: "PATCH" })),
      ),
      await proxyFetch("/admin/tenants/tnt_missing", asAdmin()),
      await proxyFetch(
        "/admin/tenants/tnt_missing",
        asAdmin(jsonBody({ name: "x" }, { method: "PATCH" })),
      ),
      await proxyFetch("/admin/tenants/tnt_missing/keys", asAdmin(jsonBody({ name: "x" }))),
    ]) {
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({
        error: "tenant not found",
        code: "tenant_not_found",
      });
    }
  });
});

describe("API keys", () => {
  let tenant: TestTenant;
  beforeAll(async () => {
    tenant = await createTenant("keyholder");
  });

  it("are shown once, with 32 random bytes and a tag, and stored only as a SHA-256 hash", async () => {
    const response = await proxyFetch(
      `/admin/tenants/${tenant.id}/keys`,
      asAdmin(jsonBody({ name: "backend" })),
    );

    expect(response.status).toBe(201);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    const created = (await response.json()) as { id: string; key: string; prefix: string };
    // 43 characters of 32 random bytes, then 11 of the tag that tells real keys from made-up ones.
    expect(created.key).toMatch(/^wlp_[A-Za-z0-9_-]{54}$/);
    expect(created.key.startsWith(created.prefix)).toBe(true);

    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(created.key));
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    const row = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?")
      .bind(created.id)
      .first();
    expect(row?.hash).toBe(hex);
    expect(JSON.stringify(row)).not.toContain(created.key);
  });

  it("are listed without their secret", async () => {
    const response = await proxyFetch(`/admin/tenants/${tenant.id}/keys`, asAdmin());

    const { items } = (await response.json()) as { items: Record<string, unknown>[] };
    expect(items.length).toBeGreaterThan(0);
    expect(JSON.stringify(items)).not.toContain(tenant.key);
    for (const item of items) {
      expect(Object.keys(item).sort()).toEqual([
        "createdAt",
        "expiresAt",
        "id",
        "lastUsedAt",
        "name",
        "prefix",
        "revokedAt",
        "scopes",
        "tenantId",
      ]);
    }
  });

  it("answers 404 when revoking a key that is not the tenant's", async () => {
    const other = await createTenant("other");

    const response = await proxyFetch(
      `/admin/tenants/${tenant.id}/keys/${other.keyId}`,
      asAdmin({ method: "DELETE" }),
    );

    expect(response.status).toBe(404);
    expect((await proxyFetch("/jobs", other.auth())).status).toBe(200);
  });
});

describe("PUT /admin/jobs/{id}/owner", () => {
  it("gives a job created outside the proxy to a tenant", async () => {
    const tenant = await createTenant("adopter");
    expect((await proxyFetch(`/jobs/${SEEDED.completed}`, tenant.auth())).status).toBe(404);

    const response = await proxyFetch(
      `/admin/jobs/${SEEDED.completed}/owner`,
      asAdmin(jsonBody({ tenantId: tenant.id }, { method: "PUT" })),
    );

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      jobId: SEEDED.completed,
      tenantId: tenant.id,
      subject: null,
    });
    expect((await proxyFetch(`/jobs/${SEEDED.completed}`, tenant.auth())).status).toBe(200);
  });

  it("answers 404 for a job Waveline does not know, or a tenant that does not exist", async () => {
    const tenant = await createTenant("adopter-2");
    const unknownJob = uniqueJobId("adopt-missing");
    await fakeWaveline.fault({ match: unknownJob, mode: "status", status: 404 });

    const noJob = await proxyFetch(
      `/admin/jobs/${unknownJob}/owner`,
      asAdmin(jsonBody({ tenantId: tenant.id }, { method: "PUT" })),
    );
    const noTenant = await proxyFetch(
      `/admin/jobs/${SEEDED.running}/owner`,
      asAdmin(jsonBody({ tenantId: "tnt_missing" }, { method: "PUT" })),
    );

    expect(noJob.status).toBe(404);
    expect(await noJob.json()).toEqual({ error: "job not found", code: "job_not_found" });
    expect(noTenant.status).toBe(404);
    expect(await noTenant.json()).toEqual({ error: "tenant not found", code: "tenant_not_found" });
  });
});

describe("GET /admin/tenants/{id}/usage", () => {
  it("counts the tenant's jobs and the pages they billed, from what the proxy recorded", async () => {
    const tenant = await createTenant("metered");
    const other = await createTenant("unmetered");
    const ids: string[] = [];
    for (const t of [tenant, tenant, other]) {
      const response = await proxyFetch("/extract-document", t.auth(jsonBody(DOCUMENT)));
      ids.push(((await response.json()) as { id: string }).id);
    }
    await fakeWaveline.updateJob(ids[0] as string, { status: "COMPLETED", pages: 3 });
    await fakeWaveline.updateJob(ids[1] as string, { status: "FAILED", pages: 1 });
    for (const id of ids.slice(0, 2)) await proxyFetch(`/jobs/${id}`, tenant.auth());

    const usage = await waitForUsage(tenant.id, (u) => u.pagesBilled === 4);

    expect(usage).toMatchObject({
      tenantId: tenant.id,
      jobsCreated: 2,
      jobsCompleted: 1,
      jobsFailed: 1,
      pagesBilled: 4,
    });
  });

  it("takes a from/to window and refuses a backwards one", async () => {
    const tenant = await createTenant("windowed");
    await proxyFetch("/extract-document", tenant.auth(jsonBody(DOCUMENT)));

    const past = await proxyFetch(
      `/admin/tenants/${tenant.id}/usage?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z`,
      asAdmin(),
    );
    expect(await past.json()).toMatchObject({ jobsCreated: 0, from: "2020-01-01T00:00:00.000Z" });

    const backwards = await proxyFetch(
      `/admin/tenants/${tenant.id}/usage?from=2020-02-01T00:00:00Z&to=2020-01-01T00:00:00Z`,
      asAdmin(),
    );
    expect(backwards.status).toBe(400);
    const garbage = await proxyFetch(`/admin/tenants/${tenant.id}/usage?from=yesterday`, asAdmin());
    expect(garbage.status).toBe(400);
    expect(await garbage.json()).toEqual({
      error: "from must be an ISO 8601 date or date-time",
      code: "invalid_request",
    });
    const dateOnly = await proxyFetch(
      `/admin/tenants/${tenant.id}/usage?from=2020-01-01&to=2020-02-01`,
      asAdmin(),
    );
    expect(await dateOnly.json()).toMatchObject({
      from: "2020-01-01T00:00:00.000Z",
      to: "2020-02-01T00:00:00.000Z",
    });
  });
});

type UsageBody = {
  jobsCreated: number;
  jobsCompleted: number;
  jobsFailed: number;
  pagesBilled: number;
};

/** Progress is recorded after the response (waitUntil): give it a moment. */
async function waitForUsage(
  tenantId: string,
  done: (usage: UsageBody) => boolean,
): Promise<UsageBody> {
  let usage: UsageBody | undefined;
  for (let attempt = 0; attempt < 40; attempt++) {
    usage = (await (
      await proxyFetch(`/admin/tenants/${tenantId}/usage`, asAdmin())
    ).json()) as UsageBody;
    if (done(usage)) return usage;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return usage as UsageBody;
}
