import type {
  JobStore,
  OwnedJob,
  Tenant,
  TenantCursor,
  TenantStore,
} from "../../src/core/tenancy/store";
import { type Fresh, type Harness, sleep } from "./harness";

/** A tenant store and the job store over the same storage (jobs belong to its tenants). */
export interface TenancyStores {
  tenants: TenantStore;
  jobs: JobStore;
}

/**
 * `TenantStore` and `JobStore` as authentication, ownership and billing rely on them. A store may
 * hold other cases' records (workerd keeps one database per test file): each case uses its own.
 */
export function tenancyConformance({ test, assert }: Harness, fresh: Fresh<TenancyStores>) {
  const unique = (label: string) => `${label}-${crypto.randomUUID()}`;
  const job = (tenantId: string, overrides: Partial<OwnedJob> = {}): OwnedJob => ({
    id: unique("job"),
    tenantId,
    subject: null,
    type: "invoice",
    fileName: "a.pdf",
    createdAt: new Date().toISOString(),
    status: "CREATED",
    pages: 0,
    ...overrides,
  });

  test("TenantStore: a tenant reads as created, with the defaults it was not given", async () => {
    const { tenants } = await fresh();
    const created = await tenants.createTenant({
      name: "acme",
      allowedOrigins: ["https://app.acme.example"],
      rateLimits: { readsPerMinute: 100 },
    });
    const read = await tenants.getTenant(created.id);
    assert.deepEqual(read, created);
    assert.equal(read?.name, "acme");
    assert.deepEqual(read?.allowedOrigins, ["https://app.acme.example"]);
    assert.equal(read?.disabled, false);
    assert.equal(read?.rateLimits.readsPerMinute, 100);
    assert.equal(read?.rateLimits.createsPerMinute, null);
    assert.equal(read?.budget.pagesPerMonth, null);
    assert.equal(read?.tokensNotBefore, null);
    assert.equal(await tenants.getTenant(unique("tnt")), null);
  });

  test("TenantStore: an update changes only what it names; an unknown tenant is null", async () => {
    const { tenants } = await fresh();
    const { id } = await tenants.createTenant({
      name: "acme",
      allowedOrigins: [],
      rateLimits: { readsPerMinute: 100, createsPerMinute: 10 },
    });
    const updated = await tenants.updateTenant(id, {
      disabled: true,
      rateLimits: { createsPerMinute: 5 },
    });
    assert.equal(updated?.disabled, true);
    assert.equal(updated?.name, "acme");
    assert.equal(updated?.rateLimits.readsPerMinute, 100);
    assert.equal(updated?.rateLimits.createsPerMinute, 5);
    assert.deepEqual(await tenants.getTenant(id), updated);
    assert.equal(await tenants.updateTenant(unique("tnt"), { name: "x" }), null);
  });

  test("TenantStore: a key is found by its hash, with its tenant, until it is revoked", async () => {
    const { tenants } = await fresh();
    const tenant = await tenants.createTenant({ name: "acme", allowedOrigins: [] });
    const hash = unique("hash");
    const key = await tenants.addKey({ tenantId: tenant.id, name: "ci", prefix: "wl_1", hash });
    assert.equal(key.tenantId, tenant.id);
    assert.equal(key.revokedAt, null);

    const { key: live } = await tenants.find({ keyHash: hash });
    assert.equal(live?.keyId, key.id);
    assert.equal(live?.tenant.id, tenant.id);
    assert.equal((await tenants.find({ keyHash: unique("hash") })).key, null);

    assert.deepEqual(await tenants.revokeKey(tenant.id, key.id), { hash });
    assert.equal((await tenants.find({ keyHash: hash })).key, null);
    assert.equal(await tenants.revokeKey(tenant.id, key.id), null);
    const [listed] = await tenants.listKeys(tenant.id);
    assert.ok(listed?.revokedAt);
  });

  test("TenantStore: another tenant's key can be neither revoked nor vouched for", async () => {
    const { tenants } = await fresh();
    const owner = await tenants.createTenant({ name: "owner", allowedOrigins: [] });
    const other = await tenants.createTenant({ name: "other", allowedOrigins: [] });
    const hash = unique("hash");
    const key = await tenants.addKey({ tenantId: owner.id, name: "k", prefix: "wl_2", hash });

    assert.equal(await tenants.revokeKey(other.id, key.id), null);
    assert.equal((await tenants.find({ keyHash: hash })).key?.keyId, key.id);
    const { token } = await tenants.find({ token: { tenantId: other.id, keyId: key.id } });
    assert.equal(token?.keyLive, false);
    const mine = await tenants.find({ token: { tenantId: owner.id, keyId: key.id } });
    assert.equal(mine.token?.tenant?.id, owner.id);
    assert.equal(mine.token?.keyLive, true);
  });

  test("TenantStore: a key's last use only moves forward", async () => {
    const { tenants } = await fresh();
    const tenant = await tenants.createTenant({ name: "acme", allowedOrigins: [] });
    const hash = unique("hash");
    const key = await tenants.addKey({ tenantId: tenant.id, name: "k", prefix: "wl_3", hash });
    await tenants.recordKeyUse(key.id, "2026-12-01T10:00:00.000Z");
    await tenants.recordKeyUse(key.id, "2026-12-01T09:00:00.000Z");
    const [listed] = await tenants.listKeys(tenant.id);
    assert.equal(listed?.lastUsedAt, "2026-12-01T10:00:00.000Z");
  });

  test("TenantStore: revoking browser tokens stamps the tenant; an unknown tenant is null", async () => {
    const { tenants } = await fresh();
    const tenant = await tenants.createTenant({ name: "acme", allowedOrigins: [] });
    const revoked = await tenants.revokeTokens(tenant.id);
    assert.ok(revoked?.tokensNotBefore);
    assert.equal((await tenants.getTenant(tenant.id))?.tokensNotBefore, revoked?.tokensNotBefore);
    assert.equal(await tenants.revokeTokens(unique("tnt")), null);
  });

  test("TenantStore: the key tag secret is made once and stays", async () => {
    const { tenants } = await fresh();
    const secret = await tenants.keyTagSecret();
    assert.ok(secret.length >= 32);
    assert.equal(await tenants.keyTagSecret(), secret);
  });

  test("TenantStore: pages of tenants hold each once, oldest first, the last with no next", async () => {
    const { tenants } = await fresh();
    const mine = new Map<string, Tenant>();
    for (const name of ["a", "b", "c", "d", "e"]) {
      const tenant = await tenants.createTenant({ name, allowedOrigins: [] });
      mine.set(tenant.id, tenant);
    }
    const position = (tenant: Tenant) => `${tenant.createdAt}|${tenant.id}`;
    const listed: Tenant[] = [];
    let cursor: TenantCursor | undefined;
    let added: Tenant | undefined;
    for (let pages = 0; pages < 1000; pages++) {
      const { items, next } = await tenants.listTenants({ limit: 2, cursor });
      assert.ok(items.length <= 2);
      listed.push(...items);
      if (!next) break;
      assert.equal(items.length, 2);
      assert.deepEqual(next, { createdAt: items[1]?.createdAt, id: items[1]?.id });
      cursor = next;
      if (!added && items.some((tenant) => mine.has(tenant.id))) {
        // Made while paging, after the page's last tenant: a later page brings it, once.
        await sleep(2);
        added = await tenants.createTenant({ name: "late", allowedOrigins: [] });
        mine.set(added.id, added);
      }
    }
    const ids = listed.map((tenant) => tenant.id);
    assert.equal(new Set(ids).size, ids.length);
    // Oldest first; tenants made in the same millisecond, by id.
    const expected = [...mine.values()].sort((a, b) => (position(a) < position(b) ? -1 : 1));
    assert.deepEqual(
      ids.filter((id) => mine.has(id)),
      expected.map((tenant) => tenant.id),
    );
    assert.ok(added);
    const order = listed.map(position);
    assert.deepEqual(order, [...order].sort());
    const last = await tenants.listTenants({ limit: 2, cursor });
    assert.equal(last.next, null);
  });

  test("JobStore: the first owner of a job keeps it (duplicate for a retry, taken for others)", async () => {
    const { tenants, jobs } = await fresh();
    const owner = await tenants.createTenant({ name: "owner", allowedOrigins: [] });
    const other = await tenants.createTenant({ name: "other", allowedOrigins: [] });
    const recorded = job(owner.id, { subject: "user-1" });
    assert.equal(await jobs.record(recorded), "recorded");
    assert.equal(await jobs.record(recorded), "duplicate");
    assert.equal(await jobs.record({ ...recorded, subject: "user-2" }), "taken");
    assert.equal(await jobs.record({ ...recorded, tenantId: other.id }), "taken");
    assert.deepEqual(await jobs.ownerOf(recorded.id), recorded);
    assert.deepEqual((await tenants.find({ jobId: recorded.id })).owner, recorded);
    assert.equal(await jobs.ownerOf(unique("job")), null);
    assert.equal((await tenants.find({ jobId: unique("job") })).owner, null);
  });

  test("JobStore: assign gives a job to a tenant, replacing its owner", async () => {
    const { tenants, jobs } = await fresh();
    const first = await tenants.createTenant({ name: "first", allowedOrigins: [] });
    const second = await tenants.createTenant({ name: "second", allowedOrigins: [] });
    const recorded = job(first.id);
    await jobs.record(recorded);
    await jobs.assign({ ...recorded, tenantId: second.id });
    assert.equal((await jobs.ownerOf(recorded.id))?.tenantId, second.id);
  });

  test("JobStore: progress only moves forward, and a finished job never changes", async () => {
    const { tenants, jobs } = await fresh();
    const tenant = await tenants.createTenant({ name: "acme", allowedOrigins: [] });
    const recorded = job(tenant.id);
    await jobs.record(recorded);
    const seen = async () => {
      const owned = await jobs.ownerOf(recorded.id);
      return [owned?.status, owned?.pages];
    };

    await jobs.recordProgress(recorded.id, "RUNNING", 3);
    assert.deepEqual(await seen(), ["RUNNING", 3]);
    await jobs.recordProgress(recorded.id, "CREATED", 1);
    assert.deepEqual(await seen(), ["RUNNING", 3]);
    await jobs.recordProgress(recorded.id, "COMPLETED", 5);
    assert.deepEqual(await seen(), ["COMPLETED", 5]);
    await jobs.recordProgress(recorded.id, "FAILED", 9);
    await jobs.recordProgressOf([{ id: recorded.id, status: "RUNNING", pages: 7 }]);
    assert.deepEqual(await seen(), ["COMPLETED", 5]);
  });

  test("JobStore: billed pages are what progress added, once", async () => {
    const { tenants, jobs } = await fresh();
    const tenant = await tenants.createTenant({ name: "acme", allowedOrigins: [] });
    const recorded = job(tenant.id, { subject: "user-1" });
    await jobs.record(recorded);
    const billed = async (status: string, pages: number) =>
      (await jobs.recordProgress(recorded.id, status, pages)).reduce((n, b) => n + b.pages, 0);
    const first = await billed("RUNNING", 2);
    const again = await billed("RUNNING", 2);
    const rest = await billed("COMPLETED", 5);
    assert.equal(again, 0);
    assert.equal(first + rest, 5);
    const month = recorded.createdAt.slice(0, 7);
    assert.deepEqual(await jobs.monthlyPages(tenant.id, month, "user-1"), {
      tenant: 5,
      endUser: 5,
    });
  });

  test("JobStore: a tenant's listing is newest first, by subject, its total capped", async () => {
    const { tenants, jobs } = await fresh();
    const tenant = await tenants.createTenant({ name: "acme", allowedOrigins: [] });
    const other = await tenants.createTenant({ name: "other", allowedOrigins: [] });
    const at = (minute: number) => `2026-12-01T10:0${minute}:00.000Z`;
    const mine = [1, 2, 3].map((minute) =>
      job(tenant.id, { createdAt: at(minute), subject: minute === 2 ? "user-2" : "user-1" }),
    );
    for (const owned of [...mine, job(other.id, { createdAt: at(4) })]) await jobs.record(owned);

    const page = await jobs.list({ tenantId: tenant.id }, { count: 2, offset: 0, countUpTo: 10 });
    assert.deepEqual(
      page.items.map((item) => item.id),
      [mine[2]?.id, mine[1]?.id],
    );
    assert.equal(page.total, 3);
    const capped = await jobs.list({ tenantId: tenant.id }, { count: 1, offset: 1, countUpTo: 2 });
    assert.deepEqual(
      capped.items.map((item) => item.id),
      [mine[1]?.id],
    );
    assert.equal(capped.total, 2);
    const subject = await jobs.list(
      { tenantId: tenant.id, subject: "user-1" },
      { count: 10, offset: 0, countUpTo: 10 },
    );
    assert.deepEqual(
      subject.items.map((item) => item.id),
      [mine[2]?.id, mine[0]?.id],
    );
  });
}
