import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_LISTED_TOTAL } from "../../src/http/routes/jobs";
import { asAdmin, createTenant, jsonBody, proxyFetch, type TestTenant } from "./helpers";

/** Gives a tenant `n` jobs in one statement, created a second apart, newest last. */
async function manyJobs(tenantId: string, n: number): Promise<void> {
  await env.DB.prepare(
    `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
     INSERT INTO jobs (id, tenant_id, subject, type, file_name, created_at, status, pages, updated_at)
     SELECT ? || '-' || i, ?, NULL, 'extract-document', 'bulk.pdf',
       strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || i || ' seconds'), 'COMPLETED', 1,
       '2026-01-01T00:00:00.000Z'
     FROM seq`,
  )
    .bind(n, tenantId, tenantId)
    .run();
}

/** The real D1 binding, adding up the rows each batch read (what D1 bills and spends time on). */
function rowsReadDatabase(): { db: D1Database; rowsRead(): number } {
  let rows = 0;
  const db = new Proxy(env.DB, {
    get(target, name) {
      if (name === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const results = await target.batch(statements);
          for (const result of results) rows += result.meta.rows_read ?? 0;
          return results;
        };
      }
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db, rowsRead: () => rows };
}

describe("listing jobs", () => {
  it("spends the tenant's read limit", async () => {
    const tenant = await createTenant("lister");
    await proxyFetch(
      `/admin/tenants/${tenant.id}`,
      asAdmin(jsonBody({ rateLimits: { readsPerMinute: 3 } }, { method: "PATCH" })),
    );

    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await proxyFetch("/jobs", tenant.auth())).status);
    const refused = await proxyFetch("/jobs", tenant.auth());

    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(await refused.json()).toEqual({
      error: "rate limit exceeded: 3 reads per minute",
      code: "rate_limited",
    });
    expect(refused.headers.get("Retry-After")).toBeTruthy();
  });

  describe("of a tenant with many jobs", () => {
    const JOBS = 50_000;
    let tenant: TestTenant;
    beforeAll(async () => {
      tenant = await createTenant("prolific");
      await manyJobs(tenant.id, JOBS);
    });

    it("reads a bounded number of rows per page, first page or deepest", async () => {
      const counted = rowsReadDatabase();
      const bindings = { ...env, DB: counted.db };

      for (const offset of [0, 10_000]) {
        const before = counted.rowsRead();
        const response = await proxyFetch(
          `/jobs?count=100&offset=${offset}`,
          tenant.auth(),
          bindings,
        );
        expect(response.status).toBe(200);
        const page = (await response.json()) as { items: { id: string }[]; total: number };
        expect(page.items).toHaveLength(100);
        expect(page.items[0]?.id).toBe(`${tenant.id}-${JOBS - offset}`);
        expect(page.total).toBe(MAX_LISTED_TOTAL);
        // Skipping and sorting read a row more than once; a full count alone would read 50000.
        expect(counted.rowsRead() - before).toBeLessThan(4 * MAX_LISTED_TOTAL);
      }
    });

    it("refuses to skip more than 10000 jobs (400)", async () => {
      const response = await proxyFetch("/jobs?offset=10001", tenant.auth());

      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: "offset must be 0 to 10000",
        code: "invalid_request",
      });
    });
  });

  it("still counts every job of a tenant with fewer than the cap", async () => {
    const tenant = await createTenant("modest");
    await manyJobs(tenant.id, 42);

    const page = (await (await proxyFetch("/jobs?count=5&offset=40", tenant.auth())).json()) as {
      items: unknown[];
      offset: number;
      count: number;
      total: number;
    };

    expect(page).toMatchObject({ offset: 40, count: 5, total: 42 });
    expect(page.items).toHaveLength(2);
  });
});
