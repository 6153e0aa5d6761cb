import { describe, expect, it } from "vitest";
import { toCachedJob } from "../../src/core/cache/entry";
import type { Logger } from "../../src/core/log";
import { cacheApiTier } from "../../src/platform/cloudflare/cache-api-tier";
import type { Job } from "../../src/waveline/schema";
import { uniqueJobId } from "./helpers";

function recordingLog(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    info() {},
    warn: (msg) => warnings.push(msg),
    error() {},
    alert() {},
    annotate() {},
  };
}

/** The real Cache API, as a distinct object (each cache object is checked once). */
function realCache(): Cache {
  return new Proxy(caches.default, {
    get: (target, name) => {
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The real Cache API with its writes dropped, as on a `*.workers.dev` address. */
function cacheThatKeepsNothing(): Cache {
  return new Proxy(caches.default, {
    get: (target, name) => {
      if (name === "put") return async () => {};
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function finishedJob() {
  const id = uniqueJobId("cache-check");
  const job: Job = {
    id,
    createdAt: new Date().toISOString(),
    status: "COMPLETED",
    type: "extract-document",
    pages: 1,
    fileName: "a.pdf",
    result: {},
    urls: { get: `https://waveline.example/jobs/${id}` },
  };
  return toCachedJob(job);
}

describe("a Cache API that keeps nothing", () => {
  it("is noticed by the first write and said once in the log", async () => {
    const log = recordingLog();
    const tier = cacheApiTier(cacheThatKeepsNothing(), log);

    await tier.put(await finishedJob(), 60_000);
    await tier.put(await finishedJob(), 60_000);

    expect(log.warnings).toEqual([
      "the Cache API kept nothing (a *.workers.dev address?): serve the Worker on a route or custom domain to use this tier",
    ]);
  });

  it("is not reported where the Cache API works", async () => {
    const log = recordingLog();
    const tier = cacheApiTier(realCache(), log);
    const entry = await finishedJob();

    await tier.put(entry, 60_000);

    expect(log.warnings).toEqual([]);
    expect(await tier.get(entry.id)).toMatchObject({ id: entry.id, status: "COMPLETED" });
  });
});
