import { describe, expect, it } from "vitest";
import { LISTING_PAGE_SIZE, type ListedJob, searchListing, type UnsettledJob } from "./settlement";

const START = Date.parse("2026-12-07T12:00:00Z");
const at = (secondsBefore: number) => new Date(START - secondsBefore * 1000).toISOString();

/** Waveline's listing, newest first: job `i` created `i` minutes before START. */
function listing(count: number, change: (job: ListedJob, i: number) => ListedJob = (job) => job) {
  const jobs = Array.from({ length: count }, (_, i) =>
    change({ id: `job-${i}`, createdAt: at(i * 60), status: "RUNNING", pages: 0 }, i),
  );
  const calls: number[] = [];
  const listPage = async (offset: number, size: number) => {
    calls.push(offset);
    return jobs.slice(offset, offset + size);
  };
  return { listPage, calls };
}

const wanted = (i: number, status = "RUNNING", pages = 0): UnsettledJob => ({
  id: `job-${i}`,
  createdAt: at(i * 60),
  status,
  pages,
});

describe("searchListing", () => {
  it("stops at the first page once every job looked for was seen", async () => {
    const { listPage, calls } = listing(500);
    const search = await searchListing([wanted(3), wanted(50)], listPage);
    expect(calls).toEqual([0]);
    expect(search.found).toEqual(new Set(["job-3", "job-50"]));
    expect(search.missing.size).toBe(0);
    expect(search.pagesRead).toBe(1);
  });

  it("reports only the jobs whose status or pages moved, as the listing shows them", async () => {
    const { listPage } = listing(10, (job, i) =>
      i === 2 ? { ...job, status: "COMPLETED", pages: 4 } : i === 3 ? { ...job, pages: 1 } : job,
    );
    const search = await searchListing([wanted(1), wanted(2), wanted(3)], listPage);
    expect(search.progress).toEqual([
      { id: "job-2", createdAt: at(120), status: "COMPLETED", pages: 4 },
      { id: "job-3", createdAt: at(180), status: "RUNNING", pages: 1 },
    ]);
  });

  it("pages on until it has gone past where a job belongs, then calls it missing", async () => {
    const { listPage, calls } = listing(1000, (job, i) =>
      i === 150 ? { ...job, id: "other" } : job,
    );
    const search = await searchListing([wanted(150)], listPage);
    expect(calls).toEqual([0, LISTING_PAGE_SIZE]);
    expect(search.missing).toEqual(new Set(["job-150"]));
  });

  it("a job past the pages it may read is neither found nor missing", async () => {
    const { listPage } = listing(1000);
    const search = await searchListing([wanted(450)], listPage, 2);
    expect(search.pagesRead).toBe(2);
    expect(search.found.size).toBe(0);
    expect(search.missing.size).toBe(0);
  });

  it("a job not in a listing that ended is missing", async () => {
    const { listPage } = listing(5);
    const search = await searchListing([{ ...wanted(1), id: "gone" }], listPage);
    expect(search.missing).toEqual(new Set(["gone"]));
  });

  it("reads a little further back than a job's time: jobs of the same instant may be out of order", async () => {
    // "late" opens page 3, listed after job-199 although made 20 s after it.
    const { listPage, calls } = listing(300, (job, i) =>
      i === 200 ? { ...job, id: "late", createdAt: at(199 * 60 - 20) } : job,
    );
    const search = await searchListing(
      [{ id: "late", createdAt: at(199 * 60 - 20), status: "RUNNING", pages: 0 }],
      listPage,
    );
    expect(calls).toEqual([0, LISTING_PAGE_SIZE, 2 * LISTING_PAGE_SIZE]);
    expect(search.found).toEqual(new Set(["late"]));
  });
});
