import assert from "node:assert/strict";
import { it } from "vitest";
import { memoryObjectStorage } from "../../src/core/objects-memory";
import { objectStorageConformance } from "./object-storage";

/** The in-memory storage the actors' unit tests run on must behave as the real ones do. */
objectStorageConformance({ test: it, assert }, async () => memoryObjectStorage());
