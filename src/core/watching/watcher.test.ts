import { describe, expect, it } from "vitest";
import type { CachedJob } from "../cache/entry";
import { UpstreamError } from "../errors";
import type { Logger } from "../log";
import { memoryObjectStorage } from "../objects-memory";
import {
  jobWatcher,
  LONG_JOB_MS,
  MAX_POLL_INTERVAL_MS,
  MIN_POLL_INTERVAL_MS,
  NOTIFY_RETRY_MS,
  type WatcherServices,
} from "./watcher";

type Job = Awaited<ReturnType<NonNullable<WatcherServices["waveline"]>["getJob"]>>;

const SELF = "https://proxy.example/jobs/job-1";
const quiet: Logger = { info() {}, warn() {}, error() {}, alert() {}, annotate() {} };

const job = (status: string, pages: number): Job => ({
  id: "job-1",
  createdAt: "2026-12-01T00:00:00Z",
  status,
  type: "extract-document",
  pages,
  fileName: "a.pdf",
  result: status === "COMPLETED" ? { text: "done" } : null,
  urls: { get: "https://waveline.example/jobs/job-1" },
});

/** A watcher over memory, a clock the test moves, and a Waveline that answers what it is told. */
function watched(options: { pendingCacheTtlMs?: number; outboxFails?: boolean } = {}) {
  const storage = memoryObjectStorage();
  const clock = { at: 1_000_000 };
  const answers: (Job | Error)[] = [];
  const upstreamCalls: string[] = [];
  const kept = new Map<string, CachedJob>();
  const enqueued: { tenantId: string; event: string }[] = [];
  const recorded: string[] = [];
  const services: WatcherServices = {
    waveline: {
      async getJob(id) {
        upstreamCalls.push(id);
        const answer = answers.length > 1 ? answers.shift() : answers[0];
        if (!answer) throw new Error("no answer");
        if (answer instanceof Error) throw answer;
        return answer;
      },
    },
    pendingCacheTtlMs: options.pendingCacheTtlMs ?? 1_000,
    terminalCacheTtlMs: 3_600_000,
    finishedJobs: {
      get: async (id) => kept.get(id) ?? null,
      put: async (entry) => {
        kept.set(entry.id, entry);
      },
    },
    jobs: {
      recordProgress: async (id, status) => {
        recorded.push(`${id}:${status}`);
        return [];
      },
      ownerOf: async () => ({ tenantId: "tnt_owner" }) as never,
    },
    recordTallies: async () => {},
    outbox: () => ({
      enqueue: async (tenantId, event) => {
        if (options.outboxFails) throw new Error("outbox is down");
        enqueued.push({ tenantId, event });
        return 1;
      },
    }),
    log: () => quiet,
  };
  const watcher = jobWatcher({ storage, services, now: () => clock.at });
  /** Runs the alarm when it is due, as the runtime would; the delay it was set for. */
  const fire = async () => {
    const due = storage.alarm();
    if (due === null) return null;
    await storage.deleteAlarm();
    const delay = due - clock.at;
    clock.at = due;
    await watcher.alarm();
    return delay;
  };
  return { storage, clock, answers, upstreamCalls, kept, enqueued, recorded, watcher, fire };
}

describe("a job's watcher", () => {
  it("watched for webhooks, polls at the usual pace, then slows down by half each unchanged poll of a long job, to at most 10 s", async () => {
    const { watcher, answers, fire, clock } = watched({ pendingCacheTtlMs: 1_000 });
    answers.push(job("RUNNING", 1));
    await watcher.watch("job-1", SELF);

    const delays: (number | null)[] = [];
    while (clock.at < 1_000_000 + LONG_JOB_MS) delays.push(await fire());
    expect(new Set(delays)).toEqual(new Set([1_000]));

    const later = [await fire(), await fire(), await fire(), await fire(), await fire()];
    expect(later).toEqual([1_000, 1_500, 2_250, 3_375, 5_063]);
    for (let i = 0; i < 5; i++) await fire();
    expect(await fire()).toBe(MAX_POLL_INTERVAL_MS);

    // A change resets the pace, not the age.
    answers.splice(0, answers.length, job("RUNNING", 2), job("RUNNING", 2));
    await fire();
    expect(await fire()).toBe(1_000);
  });

  it("never polls faster than 500 ms, however short answers stay fresh", async () => {
    const { watcher, answers, fire } = watched({ pendingCacheTtlMs: 0 });
    answers.push(job("RUNNING", 1));
    await watcher.watch("job-1", SELF);
    expect(await fire()).toBe(MIN_POLL_INTERVAL_MS);
  });

  it("backs off while upstream fails, and waits at least what Waveline's Retry-After asks", async () => {
    const { watcher, answers, fire } = watched({ pendingCacheTtlMs: 1_000 });
    answers.push(
      new UpstreamError("bad-answer", "upstream error"),
      new UpstreamError("bad-answer", "upstream error"),
      new UpstreamError("busy", "Waveline is busy", { retryAfterS: 7 }),
      job("RUNNING", 1),
    );
    await watcher.watch("job-1", SELF);
    expect(await fire()).toBe(1_000);
    expect(await fire()).toBe(1_500);
    expect(await fire()).toBe(2_250);
    expect(await fire()).toBe(7_000);
    expect(await fire()).toBe(1_000);
  });

  it("once the job ends: keeps it, records it, enqueues its event for its owner, and keeps nothing itself", async () => {
    const { watcher, answers, fire, storage, kept, recorded, enqueued, upstreamCalls } = watched();
    answers.push(job("RUNNING", 1), job("COMPLETED", 3));
    await watcher.watch("job-1", SELF);
    await fire();
    expect(storage.entries.has("notify")).toBe(true);
    await fire();

    expect(kept.get("job-1")?.status).toBe("COMPLETED");
    expect(recorded).toEqual(["job-1:COMPLETED"]);
    expect(enqueued).toEqual([{ tenantId: "tnt_owner", event: "job.completed" }]);
    expect(storage.entries.size).toBe(0);
    expect(storage.alarm()).toBeNull();

    // A reader now gets the kept job: Waveline is not asked again.
    const calls = upstreamCalls.length;
    const read = await watcher.read("job-1", 0);
    expect(read.ok && read.entry.status).toBe("COMPLETED");
    expect(upstreamCalls).toHaveLength(calls);
  });

  it("keeps the watch and asks again soon when the owner's outbox cannot take the event", async () => {
    const { watcher, answers, fire, storage, clock } = watched({ outboxFails: true });
    answers.push(job("FAILED", 0));
    await watcher.watch("job-1", SELF);
    await fire();

    expect(storage.entries.has("notify")).toBe(true);
    expect(storage.alarm()).toBe(clock.at + NOTIFY_RETRY_MS);
  });

  it("shares one upstream call between readers that come while it is under way", async () => {
    const { watcher, answers, upstreamCalls } = watched();
    answers.push(job("RUNNING", 1));
    const [first, second] = await Promise.all([
      watcher.read("job-1", 1_000),
      watcher.read("job-1", 1_000),
    ]);
    expect(upstreamCalls).toHaveLength(1);
    expect([first.polled, second.polled]).toEqual([true, false]);
    // Fresh enough: answered from the last answer, no call.
    expect((await watcher.read("job-1", 1_000)).polled).toBeUndefined();
    expect(upstreamCalls).toHaveLength(1);
  });
});
