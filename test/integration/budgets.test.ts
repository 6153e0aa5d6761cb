import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sqlJobStore } from "../../src/platform/sql/stores";
import {
  asAdmin,
  countingDatabase,
  createTenant,
  fakeWaveline,
  jsonBody,
  mintToken,
  proxyFetch,
  type TestTenant,
  withBearer,
} from "./helpers";

/**
 * Monthly page budgets. The fake Waveline bills a page per 500 words, so a document of 1000 words
 * costs 2 pages, known at creation. Each test names its files, so upstream counts are its own.
 */

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const TWO_PAGES = Array.from({ length: 1000 }, (_, i) => `word${i}`).join(" ");

function twoPageDocument(label: string) {
  return {
    fileName: `budget-${label}-${crypto.randomUUID()}.txt`,
    contentType: "text/plain",
    content: TWO_PAGES,
  };
}

async function setBudget(tenant: TestTenant, budget: unknown): Promise<Response> {
  return proxyFetch(
    `/admin/tenants/${tenant.id}`,
    asAdmin(jsonBody({ budget }, { method: "PATCH" })),
  );
}

const create = (credential: string, document: object) =>
  proxyFetch("/extract-document", withBearer(credential, jsonBody(document)));

const upstreamCreations = async (fileName: string) =>
  (await fakeWaveline.calls("/extract-document", fileName)).length;

describe("a tenant's monthly page budget", () => {
  it("refuses creation with 402 once the pages seen this month reach it, before Waveline; reads go on", async () => {
    const tenant = await createTenant("budget-cap");
    expect((await setBudget(tenant, { pagesPerMonth: 3 })).status).toBe(200);

    const first = await create(tenant.key, twoPageDocument("first"));
    const second = await create(tenant.key, twoPageDocument("second"));
    const refusedDocument = twoPageDocument("refused");
    const refused = await create(tenant.key, refusedDocument);

    expect(first.status).toBe(201);
    expect(first.headers.get("Page-Budget-Remaining")).toBe("1");
    expect(second.status).toBe(201);
    expect(second.headers.get("Page-Budget-Remaining")).toBe("0");
    expect(refused.status).toBe(402);
    const body = (await refused.json()) as { error: string; budget: string; resetsAt: string };
    expect(body).toEqual({
      error: "page budget exhausted",
      code: "budget_exhausted",
      budget: "tenant",
      resetsAt: expect.stringMatching(/^\d{4}-\d{2}-01T00:00:00\.000Z$/),
    });
    expect(Date.parse(body.resetsAt)).toBeGreaterThan(Date.now());
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(await upstreamCreations(refusedDocument.fileName)).toBe(0);
    const { id } = (await first.json()) as { id: string };
    expect((await proxyFetch(`/jobs/${id}`, tenant.auth())).status).toBe(200);
    expect((await proxyFetch("/jobs", tenant.auth())).status).toBe(200);
  });

  it("shows the tenant and the operator what is used and what is left, agreeing with the jobs' pages", async () => {
    const tenant = await createTenant("budget-usage");
    await setBudget(tenant, { pagesPerMonth: 10, endUserPagesPerMonth: 4 });
    const pages: number[] = [];
    for (const label of ["a", "b"]) {
      const job = (await (await create(tenant.key, twoPageDocument(label))).json()) as {
        pages: number;
      };
      pages.push(job.pages);
    }
    const used = pages.reduce((sum, p) => sum + p, 0);

    const own = await proxyFetch("/usage", tenant.auth());
    const operator = await proxyFetch(`/admin/tenants/${tenant.id}/usage`, asAdmin());

    expect(own.status).toBe(200);
    const ownBody = (await own.json()) as Record<string, unknown>;
    expect(ownBody).toMatchObject({ tenantId: tenant.id, jobsCreated: 2, pagesBilled: used });
    const budget = {
      month: expect.stringMatching(/^\d{4}-\d{2}$/),
      resetsAt: expect.any(String),
      pagesUsed: used,
      pagesPerMonth: 10,
      remaining: 10 - used,
      endUserPagesPerMonth: 4,
    };
    expect(ownBody.budget).toEqual(budget);
    expect(((await operator.json()) as { budget: unknown }).budget).toEqual(budget);

    expect((await setBudget(tenant, null)).status).toBe(200);
    const unbudgeted = (await (await proxyFetch("/usage", tenant.auth())).json()) as {
      budget: { pagesPerMonth: number | null; remaining: number | null };
    };
    expect(unbudgeted.budget).toMatchObject({ pagesPerMonth: null, remaining: null });
  });

  it("is for API keys only: a browser token cannot read the tenant's usage", async () => {
    const tenant = await createTenant("budget-usage-token");
    const token = await mintToken(tenant, { sub: "u1" });

    expect((await proxyFetch("/usage", withBearer(token))).status).toBe(403);
  });

  it("starts afresh with a new calendar month (UTC)", async () => {
    const tenant = await createTenant("budget-month");
    await setBudget(tenant, { pagesPerMonth: 2 });
    expect((await create(tenant.key, twoPageDocument("this-month"))).status).toBe(201);
    expect((await create(tenant.key, twoPageDocument("over"))).status).toBe(402);

    const now = new Date();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1, 0, 0, 5));

    const nextMonth = await create(tenant.key, twoPageDocument("next-month"));
    expect(nextMonth.status).toBe(201);
    expect(nextMonth.headers.get("Page-Budget-Remaining")).toBe("0");
  });

  it("warns the operator in the log once a creation passes 80% of it", async () => {
    const tenant = await createTenant("budget-warn");
    await setBudget(tenant, { pagesPerMonth: 5 });
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    const alerts = () =>
      lines
        .map((line) => JSON.parse(line) as { level: string; msg: string; tenantId?: string })
        .filter((line) => line.level === "alert" && line.tenantId === tenant.id);

    await create(tenant.key, twoPageDocument("w1"));
    expect(alerts()).toHaveLength(0);
    await create(tenant.key, twoPageDocument("w2"));
    expect(alerts()).toEqual([
      expect.objectContaining({ msg: "tenant passed 80% of its monthly page budget" }),
    ]);
  });
});

describe("an end user's monthly page budget", () => {
  it("stops that end user and no one else: other users, the backend, a token with its own budget", async () => {
    const tenant = await createTenant("budget-users");
    await setBudget(tenant, { endUserPagesPerMonth: 2 });
    const scopes = ["jobs:read", "jobs:create"];
    const alice = await mintToken(tenant, { sub: "alice", scopes });
    const bob = await mintToken(tenant, { sub: "bob", scopes });
    const carol = await mintToken(tenant, { sub: "carol", scopes, pagesPerMonth: 10 });

    expect((await create(alice, twoPageDocument("alice-1"))).status).toBe(201);
    const refused = await create(alice, twoPageDocument("alice-2"));
    expect(refused.status).toBe(402);
    expect(await refused.json()).toMatchObject({ budget: "end user" });

    expect((await create(bob, twoPageDocument("bob"))).status).toBe(201);
    expect((await create(tenant.key, twoPageDocument("backend-1"))).status).toBe(201);
    expect((await create(tenant.key, twoPageDocument("backend-2"))).status).toBe(201);
    for (const label of ["carol-1", "carol-2", "carol-3"]) {
      expect((await create(carol, twoPageDocument(label))).status).toBe(201);
    }
  });

  it("is minted only with a sub", async () => {
    const tenant = await createTenant("budget-mint");

    const response = await proxyFetch("/tokens", tenant.auth(jsonBody({ pagesPerMonth: 5 })));

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: "pagesPerMonth needs a sub: it is one end user's budget",
      code: "invalid_request",
    });
  });

  it("refuses an Idempotency-Key's first use at the cap, and lets the key create once the budget allows", async () => {
    const tenant = await createTenant("budget-key");
    await setBudget(tenant, { pagesPerMonth: 0 });
    const document = twoPageDocument("keyed");
    const keyed = (init: RequestInit = {}) =>
      tenant.auth(jsonBody(document, { ...init, headers: { "Idempotency-Key": "budget-k1" } }));

    expect((await proxyFetch("/extract-document", keyed())).status).toBe(402);
    await setBudget(tenant, { pagesPerMonth: 100 });

    expect((await proxyFetch("/extract-document", keyed())).status).toBe(201);
  });
});

describe("a refused creation", () => {
  it("spends the creation limit like any other, and its budget check is one lookup: 2 refusals, then 429s", async () => {
    const tenant = await createTenant("budget-spin");
    await setBudget(tenant, { pagesPerMonth: 2 });
    expect(
      (
        await proxyFetch(
          `/admin/tenants/${tenant.id}`,
          asAdmin(jsonBody({ rateLimits: { createsPerMinute: 2 } }, { method: "PATCH" })),
        )
      ).status,
    ).toBe(200);
    await sqlJobStore(env.DB).record({
      id: `spent-${crypto.randomUUID()}`,
      tenantId: tenant.id,
      subject: null,
      type: "extract-document",
      fileName: "spent.txt",
      createdAt: new Date().toISOString(),
      status: "COMPLETED",
      pages: 2,
    });
    // Authentication's own lookups happen once, before counting starts.
    const counted = countingDatabase();
    const bindings = { ...env, DB: counted.db };
    expect((await proxyFetch("/usage", tenant.auth(), bindings)).status).toBe(200);
    const before = counted.queries();

    const documents = Array.from({ length: 40 }, (_, i) => twoPageDocument(`spin-${i}`));
    const statuses: number[] = [];
    for (const document of documents) {
      const response = await proxyFetch(
        "/extract-document",
        tenant.auth(jsonBody(document)),
        bindings,
      );
      statuses.push(response.status);
    }

    expect(statuses.slice(0, 2)).toEqual([402, 402]);
    expect(new Set(statuses.slice(2))).toEqual(new Set([429]));
    expect(counted.queries() - before).toBeLessThanOrEqual(2);
    expect(await upstreamCreations("budget-spin-")).toBe(0);
  });

  it("counts an end user's pages in a running total that follows the job's pages as they grow", async () => {
    const tenant = await createTenant("budget-totals");
    await setBudget(tenant, { pagesPerMonth: 100, endUserPagesPerMonth: 3 });
    const token = await mintToken(tenant, { sub: "dana", scopes: ["jobs:read", "jobs:create"] });
    const created = await create(token, twoPageDocument("dana-1"));
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    await fakeWaveline.updateJob(id, { status: "COMPLETED", pages: 7 });
    expect((await proxyFetch(`/jobs/${id}`, withBearer(token))).status).toBe(200);

    const refused = await create(token, twoPageDocument("dana-2"));
    expect(refused.status).toBe(402);
    expect(await refused.json()).toMatchObject({ budget: "end user" });
    const usage = (await (await proxyFetch("/usage", tenant.auth())).json()) as {
      pagesBilled: number;
      budget: { pagesUsed: number };
    };
    expect(usage).toMatchObject({ pagesBilled: 7, budget: { pagesUsed: 7 } });
  });
});

describe("the month's running page totals", () => {
  it("count a job once however often it is recorded, follow its pages, and move with its owner", async () => {
    const store = sqlJobStore(env.DB);
    const [from, to] = [await createTenant("totals-from"), await createTenant("totals-to")];
    const month = new Date().toISOString().slice(0, 7);
    const job = {
      id: `totals-${crypto.randomUUID()}`,
      tenantId: from.id,
      subject: "erin",
      type: "extract-document",
      fileName: "totals.txt",
      createdAt: new Date().toISOString(),
      status: "RUNNING",
      pages: 3,
    };

    expect(await store.record(job)).toBe("recorded");
    expect(await store.record({ ...job, pages: 30 })).toBe("duplicate");
    await store.recordProgress(job.id, "COMPLETED", 5);
    await store.recordProgress(job.id, "RUNNING", 50);
    expect(await store.monthlyPages(from.id, month, "erin")).toEqual({ tenant: 5, endUser: 5 });

    await store.assign({ ...job, tenantId: to.id, subject: null, pages: 5 });
    expect(await store.monthlyPages(from.id, month, "erin")).toEqual({ tenant: 0, endUser: 0 });
    expect(await store.monthlyPages(to.id, month)).toEqual({ tenant: 5, endUser: 0 });
  });
});
