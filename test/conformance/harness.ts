import type { ActorCalls } from "../../src/core/objects";

/**
 * What a conformance suite needs from the runtime that runs it: a way to register a case and a
 * few assertions. `node:assert/strict` is one (Deno); test/integration/conformance.test.ts makes
 * one of vitest's `expect` (workerd has no `node:assert` without `nodejs_compat`).
 */
export interface Assert {
  equal(actual: unknown, expected: unknown, message?: string): void;
  deepEqual(actual: unknown, expected: unknown, message?: string): void;
  ok(value: unknown, message?: string): void;
  /** Settles when `run` rejects; fails when it resolves. */
  rejects(run: () => Promise<unknown>): Promise<void>;
}

export interface Harness {
  test(name: string, run: () => Promise<void>): void;
  assert: Assert;
}

/** A fresh, empty instance of the port under test, made for each case. */
export type Fresh<T> = () => Promise<T>;

/** A per-key actor as its callers see it through a runtime's host (src/core/objects.ts). */
export type Calls<T> = ActorCalls<T>;

/** Opens the actor named `name` (made on first use) as a runtime hosts it. */
export type Open<T> = (name: string) => Calls<T>;

/** A name no other case (nor another run against the same storage) uses. */
export const uniqueName = (label: string) => `${label}-${crypto.randomUUID()}`;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
