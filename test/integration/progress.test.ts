import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sqlJobStore } from "../../src/platform/sql/stores";
import { createTenant, ownJob, uniqueJobId } from "./helpers";

/** Answers about one job reach D1 from several isolates and the settler, in any order. */
describe("a job's recorded progress", () => {
  const store = sqlJobStore(env.DB);
  const recorded = async (id: string) => {
    const job = await store.ownerOf(id);
    return { status: job?.status, pages: job?.pages };
  };

  it("never moves a finished job back, nor lowers its pages", async () => {
    const tenant = await createTenant("progress-finished");
    const id = uniqueJobId("progress-finished");
    await ownJob(tenant.id, id);

    await store.recordProgress(id, "COMPLETED", 5);
    await store.recordProgress(id, "RUNNING", 3);
    await store.recordProgress(id, "FAILED", 9);

    expect(await recorded(id)).toEqual({ status: "COMPLETED", pages: 5 });
  });

  it("moves a job forward only, its pages up only; an unknown status is a kind of running", async () => {
    const tenant = await createTenant("progress-running");
    const id = uniqueJobId("progress-running");
    await ownJob(tenant.id, id, null, "CREATED");

    await store.recordProgress(id, "QUEUED", 0);
    expect(await recorded(id)).toEqual({ status: "QUEUED", pages: 0 });
    await store.recordProgress(id, "RUNNING", 4);
    await store.recordProgress(id, "CREATED", 2);
    expect(await recorded(id)).toEqual({ status: "RUNNING", pages: 4 });
    await store.recordProgress(id, "CREATED", 6);
    expect(await recorded(id)).toEqual({ status: "RUNNING", pages: 6 });
    await store.recordProgress(id, "FAILED", 1);
    expect(await recorded(id)).toEqual({ status: "FAILED", pages: 6 });
  });
});
