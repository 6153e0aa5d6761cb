import assert from "node:assert/strict";
import { describe, it, vi } from "vitest";
import { memoryTier } from "../../src/core/cache/memory";
import { memoryObjectStorage } from "../../src/core/objects-memory";
import { cacheTierConformance } from "./cache-tier";
import { objectStorageConformance } from "./object-storage";

/** The in-memory adapters (unit tests' storage, the isolate's cache) behave as the real ones do. */
const harness = { test: it, assert };

describe("memoryObjectStorage", () => {
  objectStorageConformance(harness, async () => memoryObjectStorage());
});

describe("memoryTier", () => {
  // The tier reads the time from Date.now: only Date is faked, so promises still settle.
  vi.useFakeTimers({ toFake: ["Date"] });
  const maxEntryBytes = 4096;
  cacheTierConformance(
    harness,
    async () => memoryTier({ maxBytes: 1 << 20, maxEntryBytes, maxAgeMs: 3_600_000 }),
    { maxBodyBytes: maxEntryBytes, advance: (ms) => vi.setSystemTime(Date.now() + ms) },
  );
});
