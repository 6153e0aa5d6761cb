import { describe, expect, it } from "vitest";
import type { CachedJob } from "../cache/entry";
import type { JobCache } from "../cache/job-cache";
import { JobNotFoundError, StorageUnavailableError } from "../errors";
import type { Logger, RequestScope } from "../log";
import { ALL_SCOPES, type Principal } from "../tenancy/access";
import type { OwnedJob, Tenant } from "../tenancy/store";
import { type ReadServices, readJobFor } from "./read";

const JOB = "job-1";

function entry(status: CachedJob["status"]): CachedJob {
  return { id: JOB, status, pages: 3, body: "{}", selfAt: 1, digest: "d", fetchedAt: 0 };
}

function principal(tenantId: string, narrowed: Partial<Principal> = {}): Principal {
  // Only the id matters to a read: the rest of the tenant is the rate limiter's and the budget's.
  const tenant = { id: tenantId } as Tenant;
  return { tenant, credential: "api-key", keyId: "k", scopes: ALL_SCOPES, ...narrowed };
}

/**
 * A read over stand-ins that log every port they are asked through: the owner's lookup, the
 * cache (local and shared tiers), the watcher and Waveline. `cached` is what the shared tiers hold.
 */
function reading(owner: Partial<OwnedJob> | null, cached: CachedJob | null = null) {
  const touched: string[] = [];
  const allowStale: (boolean | undefined)[] = [];
  const jobCache: JobCache = {
    async read() {
      touched.push("cache");
      return cached && { entry: cached, tier: "kv" };
    },
    async readLocal() {
      touched.push("local");
      return null;
    },
    async write() {
      touched.push("cache write");
    },
    async purge() {},
  };
  const services: ReadServices = {
    config: { upstreamTimeoutMs: 1_000, pendingCacheTtlMs: 1_000 },
    directory: {
      async owner(jobId, _scope, options) {
        touched.push("owner");
        allowStale.push(options?.allowStale);
        const value = owner && { ...ownedBy("tenant-a"), ...owner, id: jobId };
        return { value, stale: false };
      },
    },
    jobCache,
    waveline: {
      async getJob() {
        touched.push("waveline");
        throw new Error("no upstream in this test");
      },
    },
    watchers: {
      async read() {
        touched.push("watcher");
        throw new Error("no watcher in this test");
      },
    },
    jobs: {
      async recordProgress() {
        touched.push("record progress");
        return [];
      },
    },
    metrics: { record() {} },
  };
  const counted: string[] = [];
  const log: Logger = { info() {}, warn() {}, error() {}, alert() {}, annotate() {} };
  const scope: RequestScope = { log, waitUntil() {}, count: (counter) => counted.push(counter) };
  return { services, scope, touched, allowStale, counted };
}

function ownedBy(tenantId: string, subject: string | null = null): OwnedJob {
  return {
    id: JOB,
    tenantId,
    subject,
    type: "extract",
    fileName: "a.pdf",
    createdAt: "2026-12-01T00:00:00.000Z",
    status: "COMPLETED",
    pages: 3,
  };
}

describe("readJobFor: a job that is not the caller's", () => {
  const notTheirs: [string, Partial<OwnedJob> | null, Principal][] = [
    ["no such job", null, principal("tenant-a")],
    ["another tenant's job", ownedBy("tenant-b"), principal("tenant-a")],
    [
      "another end user's job",
      ownedBy("tenant-a", "bob"),
      principal("tenant-a", { subject: "al" }),
    ],
    [
      "a job outside the token's list",
      ownedBy("tenant-a"),
      principal("tenant-a", { credential: "browser-token", jobIds: new Set(["job-2"]) }),
    ],
  ];

  it.each(notTheirs)(
    "%s: job_not_found before any cache, watcher or Waveline",
    async (_, owner, who) => {
      // A finished job sits in the cache: a hit must never answer a caller a miss would refuse.
      const read = reading(owner, entry("COMPLETED"));
      const failure = await readJobFor(read.services, who, JOB, read.scope).catch(
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(JobNotFoundError);
      expect(failure).toMatchObject({ code: "job_not_found", message: "job not found" });
      expect(read.touched).toEqual(["owner"]);
      expect(read.counted).toEqual([]);
    },
  );

  it("a Last-Event-ID naming the end does not turn another tenant's job into a 204", async () => {
    const read = reading(ownedBy("tenant-b"), entry("COMPLETED"));
    const options = { lastEventId: "COMPLETED.3" };
    await expect(
      readJobFor(read.services, principal("tenant-a"), JOB, read.scope, options),
    ).rejects.toBeInstanceOf(JobNotFoundError);
    expect(read.touched).toEqual(["owner"]);
  });
});

describe("readJobFor: the caller's own job", () => {
  it("comes from the cache, counted as a hit and an upstream call saved", async () => {
    const read = reading(ownedBy("tenant-a", "al"), entry("COMPLETED"));
    const who = principal("tenant-a", { subject: "al" });
    const answer = await readJobFor(read.services, who, JOB, read.scope);
    expect(answer).toEqual({ entry: entry("COMPLETED"), source: "kv" });
    expect(read.touched).toEqual(["owner", "local", "cache"]);
    expect(read.counted).toEqual(["cacheHits", "cache:kv", "upstreamCallsSaved"]);
  });

  it("whose last event the client has is answered seenEnd without reading it", async () => {
    const read = reading(ownedBy("tenant-a"), entry("COMPLETED"));
    const options = { lastEventId: "FAILED.0" };
    const answer = await readJobFor(read.services, principal("tenant-a"), JOB, read.scope, options);
    expect(answer).toEqual({ seenEnd: true });
    expect(read.touched).toEqual(["owner"]);
  });
});

describe("readJobFor: a stale principal (storage down)", () => {
  const stale = principal("tenant-a", { stale: true });

  it("reads its cached finished job, the owner looked up from a stale copy too", async () => {
    const read = reading(ownedBy("tenant-a"), entry("FAILED"));
    const answer = await readJobFor(read.services, stale, JOB, read.scope);
    expect(answer).toEqual({ entry: entry("FAILED"), source: "kv" });
    expect(read.allowStale).toEqual([true]);
    expect(read.touched).toEqual(["owner", "cache"]);
  });

  for (const [what, cached] of [
    ["a cached running job", entry("RUNNING")],
    ["a job not cached", null],
  ] as const) {
    it(`gets storage_unavailable for ${what}, never the watcher or Waveline`, async () => {
      const read = reading(ownedBy("tenant-a"), cached);
      const failure = await readJobFor(read.services, stale, JOB, read.scope).catch((e) => e);
      expect(failure).toBeInstanceOf(StorageUnavailableError);
      expect(failure).toMatchObject({ code: "storage_unavailable" });
      expect(read.touched).toEqual(["owner", "cache"]);
    });
  }
});

describe("readJobFor: an operator", () => {
  it("reads any job without asking who owns it", async () => {
    const read = reading(ownedBy("tenant-b"), entry("COMPLETED"));
    const operator = { operator: true, bypassCache: false } as const;
    const answer = await readJobFor(read.services, operator, JOB, read.scope);
    expect(answer).toEqual({ entry: entry("COMPLETED"), source: "kv" });
    expect(read.touched).toEqual(["local", "cache"]);
  });
});
