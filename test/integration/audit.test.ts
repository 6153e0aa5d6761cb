import { describe, expect, it } from "vitest";
import { TEST_ADMIN_TOKEN } from "../constants";
import {
  asAdmin,
  createTenant,
  jsonBody,
  proxyFetch,
  SEEDED,
  type TestTenant,
  withBearer,
} from "./helpers";

interface Entry {
  at: string;
  actor: string;
  action: string;
  target: Record<string, string>;
  before: unknown;
  after: unknown;
}

async function audit(query: string): Promise<{ items: Entry[]; nextCursor: string | null }> {
  const response = await proxyFetch(`/admin/audit?${query}`, asAdmin());
  expect(response.status).toBe(200);
  return (await response.json()) as { items: Entry[]; nextCursor: string | null };
}

/** Every administrative change of one tenant, as an operator and its own key make them. */
async function changeEverything(tenant: TestTenant): Promise<string[]> {
  const secrets: string[] = [tenant.key];
  const admin = (path: string, init: RequestInit) => proxyFetch(path, asAdmin(init));
  await admin(
    `/admin/tenants/${tenant.id}`,
    jsonBody(
      { budget: { pagesPerMonth: 500 }, rateLimits: { readsPerMinute: 60 } },
      {
        method: "PATCH",
      },
    ),
  );
  const made = (await (
    await admin(`/admin/tenants/${tenant.id}/keys`, jsonBody({ name: "second" }))
  ).json()) as { id: string; key: string };
  secrets.push(made.key);
  const rotated = (await (
    await admin(`/admin/tenants/${tenant.id}/keys/${made.id}/rotate`, jsonBody({}))
  ).json()) as { key: string };
  secrets.push(rotated.key);
  await admin(`/admin/tenants/${tenant.id}/keys/${made.id}`, { method: "DELETE" });
  await admin(`/admin/tenants/${tenant.id}/revoke-tokens`, { method: "POST" });
  const hook = (await (
    await proxyFetch("/webhooks", tenant.auth(jsonBody({ url: "https://hooks.example.com/audit" })))
  ).json()) as { id: string; secret: string };
  secrets.push(hook.secret);
  const newSecret = (await (
    await admin(`/admin/tenants/${tenant.id}/webhooks/${hook.id}/rotate-secret`, {
      method: "POST",
    })
  ).json()) as { secret: string };
  secrets.push(newSecret.secret);
  await admin(`/admin/tenants/${tenant.id}/webhooks/${hook.id}`, { method: "DELETE" });
  await admin(
    `/admin/jobs/${SEEDED.completed}/owner`,
    jsonBody({ tenantId: tenant.id }, { method: "PUT" }),
  );
  return secrets;
}

describe("the audit log", () => {
  it("records every kind of change, by whom, with before and after, never a secret", async () => {
    const tenant = await createTenant("audited");
    const secrets = await changeEverything(tenant);
    const purge = await proxyFetch(`/admin/cache/jobs/${SEEDED.completed}`, {
      ...asAdmin(),
      method: "DELETE",
    });
    expect(purge.status).toBe(204);

    const { items } = await audit(`tenantId=${tenant.id}`);

    expect(items.map((entry) => entry.action).reverse()).toEqual([
      "tenant.create",
      "key.create",
      "tenant.update",
      "key.create",
      "key.rotate",
      "key.revoke",
      "tokens.revoke",
      "webhook.create",
      "webhook.rotate_secret",
      "webhook.delete",
      "job.assign",
    ]);
    const adminActor = expect.stringMatching(/^admin:[0-9a-f]{12}$/);
    const byAction = (action: string) => items.filter((entry) => entry.action === action);
    expect(byAction("tenant.update")[0]).toMatchObject({
      actor: adminActor,
      target: { tenantId: tenant.id },
      before: { budget: { pagesPerMonth: null }, rateLimits: { readsPerMinute: null } },
      after: { budget: { pagesPerMonth: 500 }, rateLimits: { readsPerMinute: 60 } },
    });
    expect(byAction("key.revoke")[0]).toMatchObject({
      before: { revokedAt: null },
      after: { revokedAt: expect.any(String) },
    });
    expect(byAction("webhook.create")[0]).toMatchObject({
      actor: `key:${tenant.keyId}`,
      after: { url: "https://hooks.example.com/audit", secret: "[redacted]" },
    });
    expect(byAction("job.assign")[0]).toMatchObject({
      target: { tenantId: tenant.id, jobId: SEEDED.completed },
      after: { tenantId: tenant.id, subject: null },
    });
    const all = JSON.stringify(items);
    for (const secret of [...secrets, TEST_ADMIN_TOKEN]) expect(all).not.toContain(secret);
    expect(all).not.toMatch(/[0-9a-f]{64}/);

    const purges = (await audit("limit=20")).items.filter(
      (entry) => entry.action === "cache.purge" && entry.target.jobId === SEEDED.completed,
    );
    expect(purges.length).toBeGreaterThan(0);
  });

  it("filters by tenant and time, newest first, in pages", async () => {
    const one = await createTenant("audit-one");
    const other = await createTenant("audit-other");
    for (const name of ["a", "b", "c"]) {
      await proxyFetch(
        `/admin/tenants/${one.id}`,
        asAdmin(jsonBody({ name: `audit-one-${name}` }, { method: "PATCH" })),
      );
    }

    const { items } = await audit(`tenantId=${one.id}`);
    expect(items.every((entry) => entry.target.tenantId === one.id)).toBe(true);
    expect(items.some((entry) => entry.target.tenantId === other.id)).toBe(false);
    const times = items.map((entry) => entry.at);
    expect(times).toEqual([...times].sort().reverse());
    expect(items[0]?.after).toMatchObject({ name: "audit-one-c" });

    const first = await audit(`tenantId=${one.id}&limit=2`);
    expect(first.items).toEqual(items.slice(0, 2));
    const second = await audit(`tenantId=${one.id}&limit=2&cursor=${first.nextCursor}`);
    expect(second.items).toEqual(items.slice(2, 4));

    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await audit(`tenantId=${one.id}&from=${future}`)).items).toEqual([]);
    expect((await audit(`tenantId=${one.id}&to=2020-01-01`)).items).toEqual([]);
    expect((await audit(`tenantId=${one.id}&from=2020-01-01&to=${future}`)).items).toEqual(items);

    const bad = await proxyFetch("/admin/audit?cursor=nope", asAdmin());
    expect(bad.status).toBe(400);
    expect((await proxyFetch("/admin/audit?limit=1001", asAdmin())).status).toBe(400);
  });

  it("is for operators only", async () => {
    const tenant = await createTenant("audit-peek");
    expect((await proxyFetch("/admin/audit", withBearer(tenant.key))).status).toBe(401);
  });
});
