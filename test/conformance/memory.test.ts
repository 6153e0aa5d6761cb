import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, it, vi } from "vitest";
import { memoryTier } from "../../src/core/cache/memory";
import { creationLedger } from "../../src/core/creation/ledger";
import { UpstreamError } from "../../src/core/errors";
import type { ObjectSql, SqlValue } from "../../src/core/objects";
import { memoryObjectStorage } from "../../src/core/objects-memory";
import { tenantLimiter } from "../../src/core/ratelimit/tenant-limiter";
import { jobWatcher } from "../../src/core/watching/watcher";
import { WebhookOutboxActor } from "../../src/core/webhooks/outbox-actor";
import type { Job } from "../../src/waveline/schema";
import { cacheTierConformance, quietLog } from "./cache-tier";
import type { Calls, Open } from "./harness";
import { ledgerConformance } from "./ledger";
import { limiterConformance } from "./limiter";
import { objectSqlConformance } from "./object-sql";
import { objectStorageConformance } from "./object-storage";
import { outboxConformance } from "./outbox";
import { upstreamOver, watcherConformance } from "./watcher";

/** The in-memory adapters (unit tests' storage, the isolate's cache) behave as the real ones do. */
const harness = { test: it, assert };

describe("memoryObjectStorage", () => {
  objectStorageConformance(harness, async () => memoryObjectStorage());
});

describe("memoryTier", () => {
  // The tier reads the time from Date.now: only Date is faked, so promises still settle.
  beforeAll(() => vi.useFakeTimers({ toFake: ["Date"] }));
  afterAll(() => vi.useRealTimers());
  const maxEntryBytes = 4096;
  cacheTierConformance(
    harness,
    async () => memoryTier({ maxBytes: 1 << 20, maxEntryBytes, maxAgeMs: 3_600_000 }),
    { maxBodyBytes: maxEntryBytes, advance: (ms) => vi.setSystemTime(Date.now() + ms) },
  );
});

/**
 * An actor's SQLite in memory (Node's `node:sqlite`), for the actors' conformance without a
 * runtime: a schema of several statements runs whole; rows are plain objects; blobs ArrayBuffers.
 */
function memoryObjectSql(): ObjectSql {
  const db = new DatabaseSync(":memory:");
  const changes = () => Number(db.prepare("SELECT total_changes() AS n").get()?.n);
  const bind = (value: SqlValue) => (value instanceof ArrayBuffer ? new Uint8Array(value) : value);
  const read = (value: unknown) =>
    value instanceof Uint8Array
      ? value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength)
      : value;
  return {
    exec<T extends Record<string, SqlValue>>(query: string, ...bindings: SqlValue[]) {
      const before = changes();
      let rows: T[] = [];
      // `prepare` compiles the first statement only: a schema (no bindings) runs whole.
      if (bindings.length === 0 && /;\s*\S/.test(query)) {
        db.exec(query);
      } else {
        const statement = db.prepare(query);
        const args = bindings.map(bind);
        if (statement.columns().length > 0) {
          rows = statement
            .all(...args)
            .map((row) =>
              Object.fromEntries(Object.entries(row).map(([key, value]) => [key, read(value)])),
            ) as T[];
        } else {
          statement.run(...args);
        }
      }
      const rowsWritten = changes() - before;
      return {
        toArray: () => rows,
        one() {
          if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}`);
          return rows[0] as T;
        },
        rowsWritten,
      };
    },
  };
}

/**
 * Hosts actors in memory as a runtime does: one per name, made on its first call; one call of an
 * actor at a time (the next starts when the last has settled); every argument and answer a
 * structured clone.
 */
function memoryHost<T extends object>(make: (name: string) => T): Open<T> {
  const actors = new Map<string, { actor: T; queue: Promise<unknown> }>();
  return (name) => {
    const call = (method: string, args: unknown[]) => {
      let entry = actors.get(name);
      if (!entry) {
        entry = { actor: make(name), queue: Promise.resolve() };
        actors.set(name, entry);
      }
      const { actor } = entry;
      const sent = structuredClone(args);
      const answer = entry.queue.then(async () => {
        const fn = (actor as Record<string, unknown>)[method];
        if (typeof fn !== "function") throw new TypeError(`${method} is not a call of ${name}`);
        return structuredClone(await fn.apply(actor, sent));
      });
      entry.queue = answer.catch(() => {});
      return answer;
    };
    return new Proxy({} as Calls<T>, {
      get: (_, method) =>
        typeof method === "symbol" || method === "then"
          ? undefined
          : (...args: unknown[]) => call(method, args),
    });
  };
}

describe("memoryObjectSql (node:sqlite)", () => {
  objectSqlConformance(harness, async () => memoryObjectSql());
});

describe("tenantLimiter in memory", () => {
  limiterConformance(
    harness,
    memoryHost(() => tenantLimiter({ storage: memoryObjectStorage() })),
  );
});

describe("creationLedger in memory", () => {
  ledgerConformance(
    harness,
    memoryHost(() =>
      creationLedger({
        sql: memoryObjectSql(),
        alarm: memoryObjectStorage(),
        services: {
          jobs: {
            record: async () => {
              throw new Error("the job store is down");
            },
          },
          wakeSettler: async () => {},
          log: quietLog,
        },
      }),
    ),
  );
});

describe("WebhookOutboxActor in memory", () => {
  outboxConformance(
    harness,
    memoryHost(
      (name) =>
        new WebhookOutboxActor({
          sql: memoryObjectSql(),
          alarm: memoryObjectStorage(),
          name,
          services: {
            tenants: { getTenant: async () => null },
            retryDelaysS: [1],
            deliver: async () => {
              throw new Error("no network in unit tests");
            },
            watchJob: async () => {},
            recordTallies: async () => {},
            log: () => quietLog,
          },
        }),
    ),
  );
});

describe("jobWatcher in memory", () => {
  /** Waveline's jobs as a stub keeps them: answered as made until updated. */
  const jobs = new Map<string, Job>();
  // One tier for every watcher, as KV is on Workers.
  const finishedJobs = memoryTier({
    maxBytes: 1 << 20,
    maxEntryBytes: 1 << 16,
    maxAgeMs: 3_600_000,
  });
  watcherConformance(
    harness,
    memoryHost(() =>
      jobWatcher({
        storage: memoryObjectStorage(),
        services: {
          waveline: {
            async getJob(id) {
              // An answer over the network: a poll takes a moment, as Waveline's does.
              await new Promise((resolve) => setTimeout(resolve, 5));
              const job = jobs.get(id);
              if (!job) throw new UpstreamError("not-found", `job ${id} not found`);
              return structuredClone(job);
            },
          },
          pendingCacheTtlMs: 500,
          terminalCacheTtlMs: 3_600_000,
          finishedJobs,
          jobs: { recordProgress: async () => [], ownerOf: async () => null },
          recordTallies: async () => {},
          outbox: undefined,
          log: () => quietLog,
        },
      }),
    ),
    upstreamOver(jobs),
  );
});
