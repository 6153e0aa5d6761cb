import { describe, expect, it } from "vitest";
import type { JobStore, Tenant } from "../tenancy/store";
import {
  applicableBudgets,
  type BudgetCheck,
  crossesWarning,
  exhausted,
  monthOf,
  remainingAfter,
} from "./budget";

const NOW = Date.parse("2026-12-31T23:59:59.999Z");

function tenantWith(budget: Tenant["budget"]): Tenant {
  return {
    id: "t1",
    name: "acme",
    allowedOrigins: [],
    disabled: false,
    rateLimits: {} as Tenant["rateLimits"],
    budget,
    tokensNotBefore: null,
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
  };
}

/** A job store that knows only this month's pages, and says who asked. */
function pagesUsed(tenant: number, endUser: number) {
  const asked: { month: string; subject?: string }[] = [];
  const jobs = {
    async monthlyPages(_tenantId: string, month: string, subject?: string) {
      asked.push({ month, subject });
      return { tenant, endUser };
    },
  } as unknown as JobStore;
  return { jobs, asked };
}

const check = (budgets: BudgetCheck["budgets"]): BudgetCheck => ({ month: monthOf(NOW), budgets });
const tenantBudget = (pagesPerMonth: number, used: number) => ({
  kind: "tenant" as const,
  pagesPerMonth,
  used,
  remaining: Math.max(0, pagesPerMonth - used),
});

describe("monthOf", () => {
  it("is the UTC calendar month, end exclusive, across a year's end", () => {
    expect(monthOf(NOW)).toEqual({
      name: "2026-12",
      start: "2026-12-01T00:00:00.000Z",
      end: "2027-01-01T00:00:00.000Z",
    });
    expect(monthOf(NOW + 1).name).toBe("2027-01");
  });
});

describe("applicableBudgets", () => {
  it("looks nothing up when nothing is capped", async () => {
    const { jobs, asked } = pagesUsed(5, 0);
    const result = await applicableBudgets(
      jobs,
      tenantWith({ pagesPerMonth: null, endUserPagesPerMonth: null }),
      { subject: "user-1" },
      NOW,
    );
    expect(result.budgets).toEqual([]);
    expect(asked).toEqual([]);
  });

  it("gives the tenant's budget, what is used and what remains, never below zero", async () => {
    const { jobs, asked } = pagesUsed(120, 0);
    const result = await applicableBudgets(
      jobs,
      tenantWith({ pagesPerMonth: 100, endUserPagesPerMonth: null }),
      undefined,
      NOW,
    );
    expect(result.budgets).toEqual([tenantBudget(100, 120)]);
    expect(result.budgets[0]?.remaining).toBe(0);
    expect(asked).toEqual([{ month: "2026-12", subject: undefined }]);
  });

  it("an end user's token budget wins over the tenant's default for end users", async () => {
    const { jobs, asked } = pagesUsed(10, 4);
    const tenant = tenantWith({ pagesPerMonth: 1000, endUserPagesPerMonth: 50 });
    const own = await applicableBudgets(jobs, tenant, { subject: "u", pagesPerMonth: 5 }, NOW);
    expect(own.budgets).toEqual([
      tenantBudget(1000, 10),
      { kind: "end user", pagesPerMonth: 5, used: 4, remaining: 1 },
    ]);
    const byDefault = await applicableBudgets(jobs, tenant, { subject: "u" }, NOW);
    expect(byDefault.budgets[1]).toEqual({
      kind: "end user",
      pagesPerMonth: 50,
      used: 4,
      remaining: 46,
    });
    expect(asked.map((a) => a.subject)).toEqual(["u", "u"]);
  });
});

describe("budget arithmetic", () => {
  it("is exhausted when any budget has nothing left", () => {
    expect(exhausted(check([tenantBudget(100, 99)]))).toBeUndefined();
    const spent = { kind: "end user" as const, pagesPerMonth: 5, used: 5, remaining: 0 };
    expect(exhausted(check([tenantBudget(100, 10), spent]))).toBe(spent);
  });

  it("what remains after spending is the least of all budgets, never negative", () => {
    expect(remainingAfter(check([]), 3)).toBeUndefined();
    const endUser = { kind: "end user" as const, pagesPerMonth: 20, used: 15, remaining: 5 };
    expect(remainingAfter(check([tenantBudget(100, 10), endUser]), 3)).toBe(2);
    expect(remainingAfter(check([tenantBudget(100, 10), endUser]), 9)).toBe(0);
  });

  it("warns once: when a spend carries the tenant across 80 %, not before, not after", () => {
    expect(crossesWarning(check([tenantBudget(100, 70)]), 9)).toBeUndefined();
    expect(crossesWarning(check([tenantBudget(100, 70)]), 10)).toEqual(tenantBudget(100, 70));
    expect(crossesWarning(check([tenantBudget(100, 80)]), 5)).toBeUndefined();
    const endUserOnly = { kind: "end user" as const, pagesPerMonth: 10, used: 7, remaining: 3 };
    expect(crossesWarning(check([endUserOnly]), 3)).toBeUndefined();
  });
});
