import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { TENANT_PAGE } from "../../src/core/tenancy/listing";
import { asAdmin, createTenant, meteredDatabase, proxyFetch, seedOtherTenants } from "./helpers";

const POPULATION = 3_000;

interface TenantPage {
  items: { id: string; createdAt: string }[];
  nextCursor: string | null;
}

async function page(query: string, bindings: Env = env): Promise<TenantPage> {
  const response = await proxyFetch(`/admin/tenants${query}`, asAdmin(), bindings);
  expect(response.status).toBe(200);
  return (await response.json()) as TenantPage;
}

describe(`GET /admin/tenants among ${POPULATION} tenants`, () => {
  beforeAll(async () => {
    await seedOtherTenants(POPULATION);
  }, 60_000);

  it("a page of 50 reads about 50 tenants' rows, wherever it starts", async () => {
    const first = await page("");
    expect(first.items).toHaveLength(TENANT_PAGE.default);
    const cursor = encodeURIComponent(first.nextCursor ?? "");
    const middle = await page(`?limit=50&cursor=${cursor}`);

    const costs: number[] = [];
    for (const query of ["?limit=50", `?limit=50&cursor=${cursor}`]) {
      const meter = meteredDatabase();
      const answer = await page(query, { ...env, DB: meter.db });
      expect(answer.items).toHaveLength(50);
      expect(meter.queries()).toBe(1);
      costs.push(meter.rowsRead());
    }
    // 51 tenants (the one more says a next page exists) through the (created_at, id) index, and
    // for each its origins (one here) and the probe that ends them: 153, not 3,000 tenants' 9,000.
    for (const rows of costs) expect(rows).toBeLessThanOrEqual(3 * 51 + 3);
    expect(costs[1]).toBeLessThanOrEqual((costs[0] ?? 0) + 1);
    expect(middle.items[0]?.id).not.toBe(first.items[0]?.id);
  });

  it("paging with nextCursor brings every tenant once, oldest first, a newcomer at the end", async () => {
    const seen: string[] = [];
    let next: string | null = null;
    let newcomer: string | undefined;
    do {
      const query: string = next ? `?limit=200&cursor=${encodeURIComponent(next)}` : "?limit=200";
      const answer = await page(query);
      seen.push(...answer.items.map((tenant) => tenant.id));
      next = answer.nextCursor;
      newcomer ??= (await createTenant("newcomer")).id;
    } while (next !== null);

    expect(new Set(seen).size).toBe(seen.length);
    const total =
      (await env.DB.prepare("SELECT count(*) AS n FROM tenants").first<number>("n")) ?? 0;
    expect(seen).toHaveLength(total);
    expect(total).toBeGreaterThan(POPULATION);
    expect(seen.at(-1)).toBe(newcomer);
  });

  it.each([
    ["?limit=0", "limit"],
    ["?limit=201", "limit"],
    ["?limit=ten", "limit"],
    ["?cursor=not-a-cursor", "cursor"],
    [`?cursor=${btoa("yesterday|tnt_1")}`, "cursor"],
  ])("%s is a 400 naming the field", async (query, field) => {
    const response = await proxyFetch(`/admin/tenants${query}`, asAdmin());
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; code: string };
    expect(body.code).toBe("invalid_request");
    expect(body.error).toContain(field);
  });
});
