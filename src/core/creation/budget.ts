import type { JobStore, Tenant } from "../tenancy/store";

/**
 * Monthly page budgets: what a tenant, and each of its end users, may have billed in a calendar
 * month (UTC). Counted from the pages the proxy has seen on the jobs it recorded (running totals,
 * one lookup), so a job whose pages are not known yet counts once they are: at creation, at a
 * read, or when the settler finds it in Waveline's listing.
 */

/** The calendar month (UTC) `now` falls in: [start, end), and its name (`2026-12`). */
export function monthOf(now: number): { name: string; start: string; end: string } {
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  return {
    name: `${year}-${String(month + 1).padStart(2, "0")}`,
    start: new Date(Date.UTC(year, month, 1)).toISOString(),
    end: new Date(Date.UTC(year, month + 1, 1)).toISOString(),
  };
}

export interface PageBudget {
  kind: "tenant" | "end user";
  pagesPerMonth: number;
  used: number;
  remaining: number;
}

export interface BudgetCheck {
  month: { name: string; start: string; end: string };
  /** The budgets that apply to this caller, tenant first; none when nothing is capped. */
  budgets: PageBudget[];
}

/** Share of a tenant's budget past which its operator is warned. */
export const WARN_AT = 0.8;

/**
 * The budgets that apply to a creation: the tenant's, and for an end user (`sub`) the one their
 * token carries or else the tenant's default for end users. One primary-key lookup when any is
 * set, none otherwise.
 */
export async function applicableBudgets(
  jobs: JobStore,
  tenant: Tenant,
  endUser: { subject: string; pagesPerMonth?: number } | undefined,
  now: number,
): Promise<BudgetCheck> {
  const month = monthOf(now);
  const tenantBudget = tenant.budget.pagesPerMonth;
  const endUserBudget = endUser && (endUser.pagesPerMonth ?? tenant.budget.endUserPagesPerMonth);
  const endUserCapped = endUser && endUserBudget !== null && endUserBudget !== undefined;
  if (tenantBudget === null && !endUserCapped) return { month, budgets: [] };
  const used = await jobs.monthlyPages(
    tenant.id,
    month.name,
    endUserCapped ? endUser.subject : undefined,
  );
  const budgets: PageBudget[] = [];
  if (tenantBudget !== null) budgets.push(budget("tenant", tenantBudget, used.tenant));
  if (endUserCapped) budgets.push(budget("end user", endUserBudget, used.endUser));
  return { month, budgets };
}

function budget(kind: PageBudget["kind"], pagesPerMonth: number, used: number): PageBudget {
  return { kind, pagesPerMonth, used, remaining: Math.max(0, pagesPerMonth - used) };
}

/** The first budget with nothing left, if any. */
export function exhausted(check: BudgetCheck): PageBudget | undefined {
  return check.budgets.find((candidate) => candidate.remaining <= 0);
}

/** Pages left under every budget once `spent` more are billed; undefined when none applies. */
export function remainingAfter(check: BudgetCheck, spent: number): number | undefined {
  if (check.budgets.length === 0) return undefined;
  return Math.max(0, Math.min(...check.budgets.map((b) => b.remaining)) - spent);
}

/** Whether `spent` more pages carry the tenant's use across WARN_AT of its budget. */
export function crossesWarning(check: BudgetCheck, spent: number): PageBudget | undefined {
  const tenant = check.budgets.find((candidate) => candidate.kind === "tenant");
  if (!tenant) return undefined;
  const line = tenant.pagesPerMonth * WARN_AT;
  return tenant.used < line && tenant.used + spent >= line ? tenant : undefined;
}

/** This month against the tenant's budget, for the usage reports of tenants and operators. */
export async function monthReport(jobs: JobStore, tenant: Tenant, now: number) {
  const month = monthOf(now);
  const { tenant: pagesBilled } = await jobs.monthlyPages(tenant.id, month.name);
  const { pagesPerMonth, endUserPagesPerMonth } = tenant.budget;
  return {
    month: month.name,
    resetsAt: month.end,
    pagesUsed: pagesBilled,
    pagesPerMonth,
    remaining: pagesPerMonth === null ? null : Math.max(0, pagesPerMonth - pagesBilled),
    endUserPagesPerMonth,
  };
}
