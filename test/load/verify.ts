import { readFileSync } from "node:fs";
import { parse } from "smol-toml";
import type { TestStack } from "../e2e/test-stack";
import {
  adminClient,
  type LoadCrowd,
  type LoadTenant,
  tenantCall,
  upstreamCreationsWith,
  upstreamJobCount,
} from "./fixture";
import { type LoadWorld, OVER_BUDGET_FILES } from "./scenarios";

/** One pass criterion of the run, with what it saw. */
export interface Verdict {
  ok: boolean;
  label: string;
  details?: string[];
}

/**
 * Every job the run created is recorded exactly once in D1, under its creator: the operator's
 * usage count, the tenant's full listing (paged, no duplicates, nothing missing or extra) and the
 * end user's listing all agree with the 201s the run got.
 */
export async function verifyRecordedJobs(
  stack: TestStack,
  tenants: LoadTenant[],
  since: Date,
): Promise<Verdict> {
  const admin = adminClient(stack);
  const details: string[] = [];
  let ok = true;
  for (const tenant of tenants) {
    const all = [...tenant.terminal, ...tenant.running, ...tenant.created];
    const expected = new Set(all.map((job) => job.id));
    const userJobs = all.filter((job) => job.subject === tenant.subject).length;

    const range = `from=${since.toISOString()}&to=${new Date(Date.now() + 60_000).toISOString()}`;
    const usage = await admin<{ jobsCreated: number }>(
      "GET",
      `/admin/tenants/${tenant.id}/usage?${range}`,
    );
    const listed = await listAll(stack.proxyUrl, tenant.apiKey);
    const unique = new Set(listed.ids);
    const missing = [...expected].filter((id) => !unique.has(id));
    const extra = [...unique].filter((id) => !expected.has(id));
    const duplicates = listed.ids.length - unique.size;
    const userTotal = (
      await tenantCall<{ total: number }>(stack.proxyUrl, tenant.userToken, "/jobs?count=1")
    ).total;

    const good =
      usage.jobsCreated === expected.size &&
      listed.total === expected.size &&
      missing.length + extra.length + duplicates === 0 &&
      userTotal === userJobs;
    ok &&= good;
    details.push(
      `${tenant.name}: ${tenant.created.length} created + ${expected.size - tenant.created.length} adopted = ` +
        `${expected.size}; usage ${usage.jobsCreated}, listed ${listed.total} ` +
        `(${missing.length} missing, ${extra.length} extra, ${duplicates} twice); ` +
        `end user ${userTotal}/${userJobs}${good ? "" : "  <-- MISMATCH"}`,
    );
  }
  return { ok, label: "every created job recorded exactly once in D1", details };
}

/** Every id a listing returned during the run belongs to the lister (and its end user). */
export function verifyListings(world: LoadWorld): Verdict {
  let leaks = 0;
  const examples: string[] = [];
  for (const { tenant, subject, ids } of world.listings) {
    const own = [...tenant.terminal, ...tenant.running, ...tenant.created].filter(
      (job) => subject === undefined || job.subject === subject,
    );
    const allowed = new Set(own.map((job) => job.id));
    for (const id of ids) {
      if (allowed.has(id)) continue;
      leaks++;
      if (examples.length < 5)
        examples.push(`${tenant.name}${subject ? `/${subject}` : ""} listed ${id}`);
    }
  }
  return {
    ok: leaks === 0,
    label: `${leaks} foreign jobs in ${world.listings.length} listings`,
    details: examples,
  };
}

/** The fake Waveline created exactly one job per 201: none lost, none behind a refusal. */
export async function verifyUpstreamCreations(
  stack: TestStack,
  before: number,
  created: number,
): Promise<Verdict> {
  const upstream = (await upstreamJobCount(stack)) - before;
  return {
    ok: upstream === created,
    label: `fake Waveline created ${upstream} jobs for ${created} 201s`,
  };
}

/** Creation limits are exact: the limited tenant got no more 201s than its bucket holds. */
export function verifyCreationLimit(
  tenant: LoadTenant,
  attempts: number,
  refused: number,
  durationMs: number,
): Verdict {
  const limit = tenant.createsPerMinute ?? 0;
  // A full bucket at the start, refilled continuously at the limit's rate.
  const most = limit + Math.ceil((limit * durationMs) / 60_000);
  const created = tenant.created.length;
  const ok = created <= most && (attempts <= most || refused > 0);
  return {
    ok,
    label: `limited tenant (${limit}/min): ${created} created (at most ${most}), ${refused} refused with 429, of ${attempts}`,
  };
}

/**
 * An end user over budget got 402s, none of which reached Waveline, and, once the tenant's
 * creation limit was spent (by creations and refusals alike), 429s.
 */
export async function verifyOverBudget(
  stack: TestStack,
  tenant: LoadTenant,
  counts: ReadonlyMap<string, number>,
  limitedAttempts: number,
  durationMs: number,
): Promise<Verdict> {
  const limit = tenant.createsPerMinute ?? 0;
  const most = limit + Math.ceil((limit * durationMs) / 60_000);
  const refusedOverBudget = counts.get("402") ?? 0;
  const rateLimited = counts.get("429") ?? 0;
  const upstream = await upstreamCreationsWith(stack, OVER_BUDGET_FILES);
  const ok =
    refusedOverBudget > 0 && upstream === 0 && (limitedAttempts <= most || rateLimited > 0);
  return {
    ok,
    label: `end user over budget: ${refusedOverBudget} refused with 402, then ${rateLimited} with 429 (the tenant's ${limitedAttempts} creations and refusals against at most ${most}), ${upstream} reached Waveline`,
  };
}

/**
 * The noisy end user is held to their share (and refused once over it), and the tenant's other
 * end users never see a 429: their own reads are counted apart from the noisy one's.
 */
export function verifyEndUserShares(
  crowd: LoadCrowd,
  noisy: Map<string, number>,
  quiet: Map<string, number>,
  durationMs: number,
): Verdict {
  const share = crowd.endUserReadsPerMinute;
  const most = share + Math.ceil((share * durationMs) / 60_000);
  const served = noisy.get("200") ?? 0;
  const refused = noisy.get("429") ?? 0;
  const quietRefused = quiet.get("429") ?? 0;
  const ok = served <= most && refused > 0 && quietRefused === 0 && (quiet.get("200") ?? 0) > 0;
  return {
    ok,
    label: `noisy end user (${share}/min of ${crowd.readsPerMinute}): ${served} served (at most ${most}), ${refused} refused; quiet end users: ${quiet.get("200") ?? 0} served, ${quietRefused} refused`,
  };
}

/** An address sending only bad credentials gets no more 401s than the limiter's windows allow. */
export function verifyGuesser(
  attempts: number,
  refusals: number,
  start: number,
  end: number,
): Verdict {
  const { limit, periodS } = authFailureLimit();
  const windows = Math.floor(end / 1000 / periodS) - Math.floor(start / 1000 / periodS) + 1;
  const most = limit * windows;
  const failures = attempts - refusals;
  const ok = failures <= most && (attempts <= most || refusals > 0);
  return {
    ok,
    label: `guessing address: ${failures} × 401 (at most ${limit} per ${periodS} s: ${most}), then ${refusals} × 429`,
  };
}

/** After the load: the Worker still answers /health and its process is still running. */
export async function verifyHealth(stack: TestStack): Promise<Verdict> {
  let status = 0;
  try {
    const response = await fetch(`${stack.proxyUrl}/health`, {
      signal: AbortSignal.timeout(10_000),
    });
    status = response.status;
  } catch {
    // no answer: status stays 0
  }
  const alive = stack.alive();
  return {
    ok: status === 200 && alive,
    label: `/health ${status || "no answer"}, ${stack.runtime === "deno" ? "the Deno server" : "wrangler dev"} ${alive ? "running" : "gone"}`,
  };
}

async function listAll(
  proxyUrl: string,
  apiKey: string,
): Promise<{ ids: string[]; total: number }> {
  const ids: string[] = [];
  let total = 0;
  for (let offset = 0; offset === 0 || offset < total; offset += 100) {
    const page = await tenantCall<{ items: { id: string }[]; total: number }>(
      proxyUrl,
      apiKey,
      `/jobs?count=100&offset=${offset}`,
    );
    total = page.total;
    ids.push(...page.items.map((item) => item.id));
    if (page.items.length === 0) break;
  }
  return { ids, total };
}

/** The failed-auth limit as wrangler.toml configures it for `wrangler dev`. */
function authFailureLimit(): { limit: number; periodS: number } {
  const { ratelimits } = parse(readFileSync("wrangler.toml", "utf8")) as {
    ratelimits?: { name: string; simple?: { limit: number; period: number } }[];
  };
  const simple = ratelimits?.find((r) => r.name === "AUTH_FAILURE_LIMITER")?.simple;
  if (!simple) throw new Error("wrangler.toml: no simple limit for AUTH_FAILURE_LIMITER");
  return { limit: simple.limit, periodS: simple.period };
}
