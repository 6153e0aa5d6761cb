import { describe, expect, it } from "vitest";
import type { Logger } from "../log";
import { memoryObjectStorage } from "../objects-memory";
import type { BilledPages } from "../tenancy/store";
import type { UnsettledJob } from "./settlement";
import { SETTLE_AT_MOST_EVERY_MS, SETTLE_EVERY_MS } from "./settlement";
import { jobSettler, MISSES_BEFORE_GIVING_UP, type SettlerServices } from "./settler";

const CREATED = "2026-12-01T00:00:00.000Z";

/**
 * A settler over memory, a clock the test moves, a job store the test fills, and a Waveline
 * listing that shows what the test puts in it (newest first).
 */
function settling() {
  const storage = memoryObjectStorage();
  const clock = { at: Date.parse(CREATED) + 60_000 };
  const stored = new Map<string, UnsettledJob & { tenantId: string }>();
  const listing: Awaited<ReturnType<NonNullable<SettlerServices["waveline"]>["listJobs"]>> = [];
  const recordedProgress: string[][] = [];
  const tallies: { tenantId: string; pages: number | undefined }[] = [];
  const alerts: string[] = [];
  let listingFails = false;
  let listingReads = 0;
  const log: Logger = {
    info() {},
    warn() {},
    error() {},
    alert(message, fields) {
      alerts.push(`${message} ${String(fields?.jobId)}`);
    },
    annotate() {},
  };
  const services: SettlerServices = {
    waveline: {
      async listJobs(offset, count) {
        listingReads++;
        if (listingFails) throw new Error("upstream down");
        return listing.slice(offset, offset + count);
      },
    },
    jobs: {
      async unsettledJobs() {
        return [...stored.values()].map(({ tenantId: _, ...job }) => job);
      },
      async recordProgressOf(progress) {
        recordedProgress.push(progress.map((job) => job.id));
        const billed: BilledPages[] = [];
        for (const { id, status, pages } of progress) {
          const job = stored.get(id);
          if (!job) continue;
          billed.push({ tenantId: job.tenantId, subject: null, pages: pages - job.pages });
          if (status === "COMPLETED" || status === "FAILED") stored.delete(id);
          else stored.set(id, { ...job, status, pages });
        }
        return billed;
      },
    },
    resendAlerts: async () => {},
    async recordTallies(counts) {
      for (const { tenantId, tally } of counts)
        tallies.push({ tenantId, pages: tally.pagesBilled });
    },
    log: () => log,
  };
  const settler = jobSettler({ storage, services, now: () => clock.at });
  return {
    settler,
    storage,
    clock,
    stored,
    listing,
    recordedProgress,
    tallies,
    alerts,
    failListing: (fails: boolean) => {
      listingFails = fails;
    },
    listingReads: () => listingReads,
    /** The runtime fires the alarm: it is no longer set while the settler runs. */
    async fire() {
      const at = storage.alarm();
      if (at === null) throw new Error("no alarm set");
      clock.at = Math.max(clock.at, at);
      await storage.deleteAlarm();
      await settler.alarm();
    },
  };
}

describe("the account's job settler", () => {
  it("records the progress of the jobs it was looking for only, and stops its alarm once none are left", async () => {
    const s = settling();
    s.stored.set("ours", {
      id: "ours",
      createdAt: CREATED,
      status: "RUNNING",
      pages: 0,
      tenantId: "t1",
    });
    // Waveline's listing also shows a job of the account the proxy did not create.
    s.listing.push(
      { id: "not-ours", createdAt: CREATED, status: "COMPLETED", pages: 9 },
      { id: "ours", createdAt: CREATED, status: "COMPLETED", pages: 3 },
    );

    await s.settler.wake();
    const started = s.clock.at;
    expect(s.storage.alarm()).toBe(started + SETTLE_EVERY_MS);
    // Woken again before it ran: the run is not pushed back.
    s.clock.at += 1_000;
    await s.settler.wake();
    expect(s.storage.alarm()).toBe(started + SETTLE_EVERY_MS);

    await s.fire();
    expect(s.recordedProgress).toEqual([["ours"]]);
    expect(s.tallies).toEqual([{ tenantId: "t1", pages: 3 }]);
    expect(s.storage.alarm()).toBe(s.clock.at + SETTLE_EVERY_MS);

    // Nothing is left to settle: the next run reads no listing and sets no alarm.
    const reads = s.listingReads();
    await s.fire();
    expect(s.listingReads()).toBe(reads);
    expect(s.storage.alarm()).toBeNull();
  });

  it("backs off while the listing fails, at most to SETTLE_AT_MOST_EVERY_MS, and returns to its pace after", async () => {
    const s = settling();
    s.stored.set("a", { id: "a", createdAt: CREATED, status: "RUNNING", pages: 0, tenantId: "t1" });
    s.listing.push({ id: "a", createdAt: CREATED, status: "RUNNING", pages: 1 });
    s.failListing(true);
    await s.settler.wake();
    const waits: number[] = [];
    for (let run = 0; run < 4; run++) {
      await s.fire();
      waits.push((s.storage.alarm() ?? 0) - s.clock.at);
    }
    expect(waits).toEqual([
      SETTLE_EVERY_MS,
      SETTLE_EVERY_MS * 2,
      SETTLE_AT_MOST_EVERY_MS,
      SETTLE_AT_MOST_EVERY_MS,
    ]);
    s.failListing(false);
    await s.fire();
    expect(s.recordedProgress).toEqual([["a"]]);
    expect(s.storage.alarm()).toBe(s.clock.at + SETTLE_EVERY_MS);
  });

  it("stops looking for a job the listing keeps passing over, with one alert, and then stops its alarm", async () => {
    const s = settling();
    s.stored.set("lost", {
      id: "lost",
      createdAt: CREATED,
      status: "RUNNING",
      pages: 0,
      tenantId: "t1",
    });
    // The listing ends without it.
    s.listing.push({ id: "other", createdAt: CREATED, status: "RUNNING", pages: 0 });
    await s.settler.wake();
    for (let run = 0; run < MISSES_BEFORE_GIVING_UP; run++) await s.fire();
    expect(s.alerts).toEqual([
      "job not in Waveline's listing: its pages are no longer settled lost",
    ]);
    const reads = s.listingReads();
    await s.fire();
    expect(s.listingReads()).toBe(reads);
    expect(s.storage.alarm()).toBeNull();
  });
});
