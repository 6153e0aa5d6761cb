import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { MEMO_TTL_MS } from "../../src/core/tenancy/directory";
import {
  asAdmin,
  createTenant,
  fakeWaveline,
  jsonBody,
  mintToken,
  ownedJobId,
  proxyFetch,
  type TestTenant,
  uniqueJobId,
  withBearer,
} from "./helpers";

let acme: TestTenant;
let globex: TestTenant;
let acmeJob: string;
beforeAll(async () => {
  acme = await createTenant("acme");
  globex = await createTenant("globex");
  acmeJob = await ownedJobId(acme, "acme-owned");
});
afterEach(() => vi.restoreAllMocks());

/** Status, body and headers except the per-request id: what a caller could compare. */
async function observable(response: Response) {
  const headers = [...response.headers].filter(([name]) => name !== "x-request-id");
  return { status: response.status, body: await response.text(), headers };
}

describe("another tenant's job", () => {
  it("answers exactly like a job that does not exist, for an API key", async () => {
    const foreign = await observable(await proxyFetch(`/jobs/${acmeJob}`, globex.auth()));
    const missing = await observable(
      await proxyFetch(`/jobs/${uniqueJobId("missing")}`, globex.auth()),
    );

    expect(foreign.status).toBe(404);
    expect(JSON.parse(foreign.body)).toEqual({ error: "job not found", code: "job_not_found" });
    expect(foreign).toEqual(missing);
  });

  it("answers exactly like a job that does not exist, for a browser token", async () => {
    const token = await mintToken(globex);

    const foreign = await observable(await proxyFetch(`/jobs/${acmeJob}`, withBearer(token)));
    const missing = await observable(
      await proxyFetch(`/jobs/${uniqueJobId("missing")}`, withBearer(token)),
    );

    expect(foreign.status).toBe(404);
    expect(foreign).toEqual(missing);
  });

  it("stays hidden from a token whose job list names it", async () => {
    const token = await mintToken(globex, { jobs: [acmeJob] });

    const response = await proxyFetch(`/jobs/${acmeJob}`, withBearer(token));

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "job not found", code: "job_not_found" });
  });

  it("costs no upstream call", async () => {
    const job = await ownedJobId(acme, "no-upstream");

    await proxyFetch(`/jobs/${job}`, globex.auth());

    expect(await fakeWaveline.calls(job)).toHaveLength(0);
  });

  it("is not in the other tenant's list", async () => {
    const response = await proxyFetch("/jobs?count=100", globex.auth());

    const list = (await response.json()) as { items: { id: string }[]; total: number };
    expect(list.items.map((job) => job.id)).not.toContain(acmeJob);
  });

  it("answers the owner", async () => {
    expect((await proxyFetch(`/jobs/${acmeJob}`, acme.auth())).status).toBe(200);
  });
});

describe("API key lifecycle", () => {
  it("stops a revoked key at once in the isolate that revoked it", async () => {
    const tenant = await createTenant("revoked-here");
    const job = await ownedJobId(tenant, "revoke");
    expect((await proxyFetch(`/jobs/${job}`, tenant.auth())).status).toBe(200);

    const revoked = await proxyFetch(
      `/admin/tenants/${tenant.id}/keys/${tenant.keyId}`,
      asAdmin({ method: "DELETE" }),
    );
    expect(revoked.status).toBe(204);

    const response = await proxyFetch(`/jobs/${job}`, tenant.auth());
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: "missing or invalid credentials",
      code: "authentication_failed",
    });
  });

  it("stops a key revoked elsewhere within 10 seconds", async () => {
    const tenant = await createTenant("revoked-elsewhere");
    const job = await ownedJobId(tenant, "revoke-elsewhere");
    expect((await proxyFetch(`/jobs/${job}`, tenant.auth())).status).toBe(200);
    // Another isolate revokes it: this one only sees the database change, not the admin call.
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?")
      .bind(new Date().toISOString(), tenant.keyId)
      .run();
    const now = Date.now();

    vi.spyOn(Date, "now").mockReturnValue(now + MEMO_TTL_MS - 1000);
    expect((await proxyFetch(`/jobs/${job}`, tenant.auth())).status).toBe(200);

    vi.spyOn(Date, "now").mockReturnValue(now + MEMO_TTL_MS + 1);
    expect((await proxyFetch(`/jobs/${job}`, tenant.auth())).status).toBe(401);
  });

  it("lets two live keys work side by side, so keys rotate without downtime", async () => {
    const tenant = await createTenant("rotating");
    const job = await ownedJobId(tenant, "rotate");
    const second = (await (
      await proxyFetch(`/admin/tenants/${tenant.id}/keys`, asAdmin(jsonBody({ name: "next" })))
    ).json()) as { id: string; key: string };

    expect((await proxyFetch(`/jobs/${job}`, tenant.auth())).status).toBe(200);
    expect((await proxyFetch(`/jobs/${job}`, withBearer(second.key))).status).toBe(200);

    await proxyFetch(
      `/admin/tenants/${tenant.id}/keys/${tenant.keyId}`,
      asAdmin({ method: "DELETE" }),
    );
    expect((await proxyFetch(`/jobs/${job}`, tenant.auth())).status).toBe(401);
    expect((await proxyFetch(`/jobs/${job}`, withBearer(second.key))).status).toBe(200);
  });

  it("accepts a new key at once, though unknown keys were just refused", async () => {
    const tenant = await createTenant("fresh-key");
    const job = await ownedJobId(tenant, "fresh");
    const created = (await (
      await proxyFetch(`/admin/tenants/${tenant.id}/keys`, asAdmin(jsonBody({ name: "new" })))
    ).json()) as { key: string };

    expect((await proxyFetch(`/jobs/${job}`, withBearer(created.key))).status).toBe(200);
  });

  it("refuses a made-up key that looks like ours", async () => {
    const response = await proxyFetch("/jobs", withBearer(`wlp_${"A".repeat(43)}`));

    expect(response.status).toBe(401);
  });
});

describe("a disabled tenant", () => {
  it("is refused with 403 for every credential, and works again when enabled", async () => {
    const tenant = await createTenant("disabled");
    const job = await ownedJobId(tenant, "disabled");
    const token = await mintToken(tenant);

    await proxyFetch(
      `/admin/tenants/${tenant.id}`,
      asAdmin(jsonBody({ disabled: true }, { method: "PATCH" })),
    );
    for (const auth of [tenant.auth(), withBearer(token)]) {
      const response = await proxyFetch(`/jobs/${job}`, auth);
      expect(response.status).toBe(403);
      expect(await response.json()).toEqual({
        error: "the tenant is disabled",
        code: "tenant_disabled",
      });
    }

    await proxyFetch(
      `/admin/tenants/${tenant.id}`,
      asAdmin(jsonBody({ disabled: false }, { method: "PATCH" })),
    );
    expect((await proxyFetch(`/jobs/${job}`, tenant.auth())).status).toBe(200);
  });
});
