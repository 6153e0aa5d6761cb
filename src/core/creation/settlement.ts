import type { JobStatus } from "../../waveline/schema";

/**
 * Settlement: the proxy learns the final status and pages of every job it recorded, whether or
 * not anyone reads it, so usage and budgets count what Waveline billed. One account-wide settler
 * pages through Waveline's listing of the account's jobs (`GET /jobs`, up to 100 a call) and
 * records what it finds: its upstream cost follows the number of jobs still running, never the
 * number of readers or tenants.
 */

/** The settler, as creation sees it: told that a job may need settling (cheap, idempotent). */
export interface Settlement {
  wake(): Promise<void>;
}

/** While jobs are unsettled, the listing is read this often. */
export const SETTLE_EVERY_MS = 15_000;
/** Upstream failures slow the settler down to this. */
export const SETTLE_AT_MOST_EVERY_MS = 60_000;
/** Jobs created longer ago than this (Waveline's run in tens of seconds) are no longer looked for. */
export const SETTLE_HORIZON_MS = 3 * 24 * 60 * 60_000;
/** One run reads at most this many pages of the listing (100 jobs each). */
export const MAX_LISTING_PAGES = 10;
export const LISTING_PAGE_SIZE = 100;
/**
 * The listing is read this much further back than the oldest job looked for: a job's recorded
 * creation time is Waveline's own (the proxy's clock only when Waveline's answer had none), and
 * jobs created in the same instant may be listed in any order.
 */
const LISTING_SLACK_MS = 30_000;

/** A job the proxy recorded as not finished yet. */
export interface UnsettledJob {
  id: string;
  createdAt: string;
  status: JobStatus;
  pages: number;
}

/** A job as Waveline's listing shows it. */
export interface ListedJob {
  id: string;
  createdAt: string;
  status: JobStatus;
  pages: number;
}

export interface ListingSearch {
  /** What the listing says of jobs it showed whose status or pages moved. */
  progress: ListedJob[];
  /** Looked for and found (whatever their status). */
  found: Set<string>;
  /** Looked for, and the listing went past where they belong without showing them. */
  missing: Set<string>;
  /** Listing pages read. */
  pagesRead: number;
}

/**
 * Reads the listing, newest first, until every `wanted` job was seen, the listing reached jobs
 * older than the oldest of them (with some slack), it ended, or `maxPages` were read.
 */
export async function searchListing(
  wanted: readonly UnsettledJob[],
  listPage: (offset: number, count: number) => Promise<ListedJob[]>,
  maxPages = MAX_LISTING_PAGES,
): Promise<ListingSearch> {
  const looking = new Map(wanted.map((job) => [job.id, job]));
  const search: ListingSearch = {
    progress: [],
    found: new Set(),
    missing: new Set(),
    pagesRead: 0,
  };
  const oldest = Math.min(...wanted.map((job) => time(job.createdAt)));
  let reachedBack = Number.POSITIVE_INFINITY;
  let ended = false;
  let offset = 0;
  while (looking.size > 0 && search.pagesRead < maxPages) {
    const items = await listPage(offset, LISTING_PAGE_SIZE);
    search.pagesRead++;
    for (const item of items) {
      const listedAt = Date.parse(item.createdAt);
      if (!Number.isNaN(listedAt)) reachedBack = Math.min(reachedBack, listedAt);
      const known = looking.get(item.id);
      if (!known) continue;
      looking.delete(item.id);
      search.found.add(item.id);
      if (item.status !== known.status || item.pages !== known.pages) search.progress.push(item);
    }
    offset += items.length;
    ended = items.length < LISTING_PAGE_SIZE;
    if (ended || reachedBack < oldest - LISTING_SLACK_MS) break;
  }
  for (const job of looking.values()) {
    if (ended || reachedBack < time(job.createdAt) - LISTING_SLACK_MS) search.missing.add(job.id);
  }
  return search;
}

/** An unreadable time of a job looked for sorts as the oldest: the listing is read as far as it may go. */
function time(iso: string): number {
  const parsed = Date.parse(iso);
  return Number.isNaN(parsed) ? 0 : parsed;
}
