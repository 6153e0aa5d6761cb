import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type ListedJob, SETTLE_EVERY_MS, searchListing } from "../../src/core/creation/settlement";
import type { JobSettler } from "../../src/platform/cloudflare/objects/job-settler";
import {
  asAdmin,
  createTenant,
  fakeWaveline,
  jsonBody,
  ownJob,
  proxyFetch,
  type TestTenant,
  uniqueJobId,
  withBearer,
} from "./helpers";

/**
 * Every billed page is counted, read or not: the account's settler (a Durable Object) reads
 * Waveline's listing on its alarm and records what became of the jobs nobody read. Tests run the
 * alarm at once with `runDurableObjectAlarm` instead of waiting SETTLE_EVERY_MS.
 */

afterEach(() => {
  vi.restoreAllMocks();
});

const settler = () => env.JOB_SETTLER.get(env.JOB_SETTLER.idFromName("account"));

async function setBudget(tenant: TestTenant, budget: unknown): Promise<void> {
  const response = await proxyFetch(
    `/admin/tenants/${tenant.id}`,
    asAdmin(jsonBody({ budget }, { method: "PATCH" })),
  );
  expect(response.status).toBe(200);
}

function document(label: string) {
  return {
    fileName: `settle-${label}-${crypto.randomUUID()}.txt`,
    contentType: "text/plain",
    content: "one two three",
  };
}

async function createJob(
  credential: string,
  label: string,
): Promise<{ id: string; res: Response }> {
  const res = await proxyFetch(
    "/extract-document",
    withBearer(credential, jsonBody(document(label))),
  );
  expect(res.status).toBe(201);
  return { id: ((await res.clone().json()) as { id: string }).id, res };
}

async function recorded(id: string) {
  return env.DB.prepare("SELECT status, pages FROM jobs WHERE id = ?")
    .bind(id)
    .first<{ status: string; pages: number }>();
}

/** The settler's log lines of this test. */
function settlerLines() {
  const lines: Record<string, unknown>[] = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    lines.push(JSON.parse(String(line)) as Record<string, unknown>);
  });
  return () => lines.filter((line) => line.settler === "account");
}

describe("the settler", () => {
  it("counts the pages of a job nobody reads: the budget stops the next creation", async () => {
    const tenant = await createTenant("settle-unread");
    await setBudget(tenant, { pagesPerMonth: 5 });
    const { id, res } = await createJob(tenant.key, "grows");
    expect(res.headers.get("Page-Budget-Remaining")).toBe("4");

    // Upstream the job ran to 100 pages; nobody reads it through the proxy.
    await fakeWaveline.updateJob(id, { status: "COMPLETED", pages: 100 });
    expect(await runDurableObjectAlarm(settler())).toBe(true);

    expect(await recorded(id)).toEqual({ status: "COMPLETED", pages: 100 });
    const refused = await proxyFetch("/extract-document", tenant.auth(jsonBody(document("after"))));
    expect(refused.status).toBe(402);
    const usage = (await (await proxyFetch("/usage", tenant.auth())).json()) as {
      pagesBilled: number;
      budget: { pagesUsed: number; remaining: number };
    };
    expect(usage).toMatchObject({ pagesBilled: 100, budget: { pagesUsed: 100, remaining: 0 } });
  });

  it("is woken by a creation and runs within SETTLE_EVERY_MS by itself", async () => {
    const tenant = await createTenant("settle-wake");
    const before = Date.now();
    const { id } = await createJob(tenant.key, "wake");

    const alarm = await runInDurableObject(settler(), (_object, state) => state.storage.getAlarm());

    expect(alarm).not.toBeNull();
    expect(alarm as number).toBeLessThanOrEqual(before + SETTLE_EVERY_MS + 1_000);
    await fakeWaveline.updateJob(id, { status: "COMPLETED" });
    expect(await runDurableObjectAlarm(settler())).toBe(true);
    expect(await recorded(id)).toMatchObject({ status: "COMPLETED" });
  });

  it("settles the jobs of many tenants with one listing call, and stops once they are all finished", async () => {
    const lines = settlerLines();
    const ids: string[] = [];
    for (const name of ["settle-a", "settle-b", "settle-c"]) {
      const tenant = await createTenant(name);
      for (const label of ["1", "2"])
        ids.push((await createJob(tenant.key, `${name}-${label}`)).id);
    }
    for (const [i, id] of ids.entries()) {
      await fakeWaveline.updateJob(id, { status: i % 2 ? "FAILED" : "COMPLETED", pages: 3 + i });
    }

    expect(await runDurableObjectAlarm(settler())).toBe(true);

    for (const [i, id] of ids.entries()) {
      expect(await recorded(id)).toEqual({ status: i % 2 ? "FAILED" : "COMPLETED", pages: 3 + i });
    }
    const settled = lines().find((line) => line.msg === "jobs settled");
    expect(settled).toMatchObject({ moved: ids.length, listingPages: 1 });
    // Nothing left to settle: the next run finds nothing and does not arm again.
    await runDurableObjectAlarm(settler());
    expect(await runDurableObjectAlarm(settler())).toBe(false);
  });

  it("follows a running job until it finishes, its pages only growing", async () => {
    const tenant = await createTenant("settle-running");
    const { id } = await createJob(tenant.key, "running");
    await fakeWaveline.updateJob(id, { status: "RUNNING", pages: 4 });

    expect(await runDurableObjectAlarm(settler())).toBe(true);
    expect(await recorded(id)).toEqual({ status: "RUNNING", pages: 4 });

    await fakeWaveline.updateJob(id, { status: "COMPLETED", pages: 9 });
    expect(await runDurableObjectAlarm(settler())).toBe(true);
    expect(await recorded(id)).toEqual({ status: "COMPLETED", pages: 9 });
  });

  it("gives up, with an alert, on a job Waveline's listing never shows", async () => {
    const lines = settlerLines();
    const tenant = await createTenant("settle-missing");
    const id = uniqueJobId("settle-missing");
    await ownJob(tenant.id, id);
    await runInDurableObject(settler(), (settlerObject: JobSettler) => settlerObject.wake());

    for (let run = 0; run < 5; run++) expect(await runDurableObjectAlarm(settler())).toBe(true);

    expect(lines()).toContainEqual(expect.objectContaining({ level: "alert", jobId: id }));
    expect(await runDurableObjectAlarm(settler())).toBe(true);
    expect(await runDurableObjectAlarm(settler())).toBe(false);
  });
});

describe("a settler deployed when its counts were SQL tables", () => {
  /** A settler of its own, its storage as an older settler left it, then started afresh. */
  async function restartedWithOldTables(
    rows: [jobId: string, misses: number][],
    failures: number,
    entries: Record<string, number>,
  ) {
    const id = env.JOB_SETTLER.idFromName(`carry-over-${crypto.randomUUID()}`);
    await runInDurableObject(env.JOB_SETTLER.get(id), async (_object, state) => {
      state.storage.sql.exec(`
        CREATE TABLE missing_jobs (id TEXT PRIMARY KEY, misses INTEGER NOT NULL);
        CREATE TABLE state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      `);
      for (const [jobId, misses] of rows) {
        state.storage.sql.exec(
          "INSERT INTO missing_jobs (id, misses) VALUES (?, ?)",
          jobId,
          misses,
        );
      }
      state.storage.sql.exec("INSERT INTO state (name, value) VALUES ('failures', ?)", failures);
      await state.storage.put(entries);
      await state.storage.sync();
      // The next call starts the object again, as a deployment does: its constructor runs first.
      state.abort("restarted by the test");
    }).catch(() => {});
    return env.JOB_SETTLER.get(id);
  }

  it("carries the old counts over at its first start: a job missed 4 times is given up on after one more run", async () => {
    const lines = settlerLines();
    const tenant = await createTenant("settle-carry-over");
    const nearlyLost = uniqueJobId("settle-carry-4");
    const recounted = uniqueJobId("settle-carry-newer");
    await ownJob(tenant.id, nearlyLost);
    await ownJob(tenant.id, recounted);
    // Since the deployment, the listing passed `recounted` over once: that newer count wins.
    const restarted = await restartedWithOldTables(
      [
        [nearlyLost, 4],
        [recounted, 4],
      ],
      3,
      { [`miss:${recounted}`]: 1 },
    );

    const carried = await runInDurableObject(restarted, async (object: JobSettler, state) => {
      await object.wake();
      return {
        tables: state.storage.sql
          .exec("SELECT name FROM sqlite_master WHERE name IN ('missing_jobs', 'state')")
          .toArray(),
        failures: await state.storage.get("failures"),
      };
    });
    expect(carried).toEqual({ tables: [], failures: 3 });

    expect(await runDurableObjectAlarm(restarted)).toBe(true);
    const alerts = lines().filter((line) => line.level === "alert");
    expect(alerts).toEqual([expect.objectContaining({ jobId: nearlyLost })]);
  });
});

describe("a search of the listing", () => {
  // 1,500 jobs a second apart, newest first, all finished upstream.
  const start = Date.parse("2026-12-01T12:00:00.000Z");
  const listing: ListedJob[] = Array.from({ length: 1500 }, (_, i) => ({
    id: `job-${i}`,
    createdAt: new Date(start - i * 1000).toISOString(),
    status: "COMPLETED",
    pages: 2,
  }));
  const reader = () => {
    const calls: number[] = [];
    const read = async (offset: number, count: number) => {
      calls.push(offset);
      return listing.slice(offset, offset + count);
    };
    return { calls, read };
  };
  const unsettled = (i: number) => ({
    id: `job-${i}`,
    createdAt: listing[i]?.createdAt ?? "",
    status: "RUNNING",
    pages: 0,
  });

  it("reads back only as far as the oldest job it looks for: 250 jobs, 3 calls", async () => {
    const { calls, read } = reader();
    const wanted = Array.from({ length: 250 }, (_, i) => unsettled(i));

    const search = await searchListing(wanted, read);

    expect(calls).toEqual([0, 100, 200]);
    expect(search.progress).toHaveLength(250);
    expect(search.missing.size).toBe(0);
  });

  it("calls a job missing once the listing went 30 s past it, and reads at most 10 pages a run", async () => {
    const { calls, read } = reader();
    const absent = { ...unsettled(5), id: "gone" };
    const far = unsettled(1200);

    const search = await searchListing([absent, far], read);

    expect(calls).toHaveLength(10);
    expect([...search.found]).toEqual([]);
    expect([...search.missing]).toEqual(["gone"]);
  });
});
