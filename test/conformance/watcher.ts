import type { JobWatcher } from "../../src/core/watching/watcher";
import { type Calls, type Harness, type Open, uniqueName } from "./harness";

/**
 * The Waveline the host's watchers ask (the fake's control API over HTTP, or a stub in memory): a
 * job made there answers as made until updated.
 */
export interface WatcherUpstream {
  createJob(job: { id: string; status: string; pages?: number }): Promise<void>;
  updateJob(id: string, patch: { status?: string; pages?: number }): Promise<void>;
}

const FRESH_MS = 60_000;

/** A Waveline kept in `jobs` (a stub's, by id): jobs as `GET /jobs/{id}` answers them. */
export function upstreamOver(jobs: Map<string, object>): WatcherUpstream {
  return {
    async createJob({ id, status, pages = 0 }) {
      jobs.set(id, {
        id,
        createdAt: new Date().toISOString(),
        status,
        type: "invoice",
        pages,
        fileName: "a.pdf",
        result: null,
        urls: { get: `https://waveline.test/api/v1/jobs/${id}` },
      });
    },
    async updateJob(id, patch) {
      const job = jobs.get(id);
      if (!job) throw new Error(`no job ${id}`);
      jobs.set(id, { ...job, ...patch });
    },
  };
}

/**
 * A job's watcher's calls (`jobWatcher` in src/core/watching/watcher.ts) but its event stream,
 * which is not one on Workers (a `fetch` of the object).
 */
export type WatcherCalls = Pick<Calls<JobWatcher>, "read" | "watch">;

/**
 * A job's watcher (`jobWatcher`) as readers of a job call it through a runtime's host (named by
 * job id): the one poller of a running job, whose answer readers share while it is fresh. Event
 * streams are the runtime's own (a `fetch` on Workers) and are left to the end-to-end tests.
 */
export function watcherConformance(
  { test, assert }: Harness,
  open: Open<WatcherCalls>,
  upstream: WatcherUpstream,
) {
  const runningJob = async (pages = 1) => {
    const id = uniqueName("watched");
    await upstream.createJob({ id, status: "RUNNING", pages });
    return { id, watcher: open(id) };
  };

  test("watcher: a read asks Waveline and answers the job, saying it polled", async () => {
    const { id, watcher } = await runningJob(2);
    const answer = await watcher.read(id, FRESH_MS);
    assert.equal(answer.ok, true);
    if (!answer.ok) return;
    assert.equal(answer.polled, true);
    assert.equal(answer.entry.id, id);
    assert.equal(answer.entry.status, "RUNNING");
    assert.equal(answer.entry.pages, 2);
    assert.ok(Math.abs(answer.entry.fetchedAt - Date.now()) < 60_000);
    assert.ok(answer.entry.body.includes(`"id":${JSON.stringify(id)}`));
  });

  test("watcher: reads share a fresh answer; a reader wanting a younger one gets Waveline's news", async () => {
    const { id, watcher } = await runningJob();
    const first = await watcher.read(id, FRESH_MS);
    await upstream.updateJob(id, { pages: 5 });
    const shared = await watcher.read(id, FRESH_MS);
    assert.ok(shared.ok && shared.polled !== true);
    assert.deepEqual(shared.ok && shared.entry, first.ok && first.entry);
    const younger = await watcher.read(id, 0);
    assert.ok(younger.ok && younger.polled === true);
    assert.equal(younger.ok && younger.entry.pages, 5);
  });

  test("watcher: of 10 concurrent readers of a job, one asks Waveline and all get its answer", async () => {
    const { id, watcher } = await runningJob(3);
    const answers = await Promise.all(Array.from({ length: 10 }, () => watcher.read(id, FRESH_MS)));
    assert.equal(answers.filter((answer) => answer.polled === true).length, 1);
    for (const answer of answers) assert.equal(answer.ok && answer.entry.pages, 3);
  });

  test("watcher: a finished job is answered from where it was kept, not asked of Waveline again", async () => {
    const { id, watcher } = await runningJob();
    await watcher.read(id, FRESH_MS);
    await upstream.updateJob(id, { status: "COMPLETED", pages: 4 });
    const done = await watcher.read(id, 0);
    assert.ok(done.ok && done.polled === true);
    assert.equal(done.ok && done.entry.status, "COMPLETED");
    const kept = await watcher.read(id, 0);
    assert.ok(kept.ok && kept.polled !== true);
    assert.equal(kept.ok && kept.entry.status, "COMPLETED");
    assert.equal(kept.ok && kept.entry.pages, 4);
  });

  test("watcher: a job Waveline does not know is answered as not found, not thrown", async () => {
    const id = uniqueName("unknown");
    const answer = await open(id).read(id, FRESH_MS);
    assert.equal(answer.ok, false);
    assert.equal(!answer.ok && answer.failure, "not-found");
  });

  test("watcher: answers are copies: changing one changes no later answer", async () => {
    const { id, watcher } = await runningJob(2);
    const first = await watcher.read(id, FRESH_MS);
    if (first.ok) {
      first.entry.status = "FAILED";
      first.entry.pages = 99;
    }
    const again = await watcher.read(id, FRESH_MS);
    assert.ok(again.ok && again.polled !== true);
    assert.equal(again.ok && again.entry.status, "RUNNING");
    assert.equal(again.ok && again.entry.pages, 2);
  });
}
