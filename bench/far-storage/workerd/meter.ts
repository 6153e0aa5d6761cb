import { meteredDatabase } from "../../../test/integration/helpers";
import type { StorageCost } from "../figures";

/** Bindings whose storage is `delayMs` away and counted: D1 and every Durable Object namespace. */
export interface FarStorage {
  env: Env;
  cost(): Omit<StorageCost, "samples" | "requests" | "ms" | "maxMs" | "awaitedRoundTrips">;
  /** Sequential round trips made and finished within [from, to] (`performance.now()` times). */
  awaitedWithin(from: number, to: number): number;
  reset(): void;
}

// Captured before any test fakes timers: the delay is real time whatever the clock says.
const sleep = globalThis.setTimeout.bind(globalThis);

const NAMESPACES = ["RATE_LIMITER", "CREATION_LEDGER", "JOB_WATCHER", "WEBHOOK_OUTBOX"] as const;

/**
 * `bindings` as a location far from the D1 primary and the Durable Objects sees them: every
 * round trip to either waits `delayMs` first. Round trips of both kinds share one count of
 * sequential round trips, which is what a request's latency grows with.
 */
export function farStorage(bindings: Env, delayMs: number): FarStorage {
  let objectCalls = 0;
  let sequential = 0;
  let inFlight = 0;
  let trips: { start: number; end: number }[] = [];
  const trip = async <R>(call: () => Promise<R>): Promise<R> => {
    if (inFlight === 0) sequential++;
    inFlight++;
    const start = performance.now();
    try {
      if (delayMs > 0) await new Promise((resolve) => sleep(resolve, delayMs));
      return await call();
    } finally {
      inFlight--;
      trips.push({ start, end: performance.now() });
    }
  };
  // D1 counted by the tests' meter, each of its round trips going through this one's `trip`.
  const d1 = meteredDatabase(bindings.DB, { around: trip });
  const db = d1.db;

  const objects = <N extends DurableObjectNamespace<undefined>>(real: N): N =>
    new Proxy(real, {
      get(target, property) {
        const member = Reflect.get(target, property, target) as unknown;
        if (typeof member !== "function") return member;
        if (property !== "get") return member.bind(target);
        const get = member.bind(target) as (...args: unknown[]) => object;
        return (...args: unknown[]) =>
          new Proxy(get(...args), {
            get(stub, name) {
              if (name === "id" || name === "name") return Reflect.get(stub, name);
              // Not a thenable: a stub returned from an async function must not be awaited into.
              if (typeof name === "symbol" || name === "then") return undefined;
              // Every other property of a stub is a remote method (fetch included): one round trip.
              const call = stub as unknown as Record<string, (...values: unknown[]) => unknown>;
              return (...values: unknown[]) => {
                objectCalls++;
                return trip(async () => call[name]?.(...values));
              };
            },
          });
      },
    });

  const env = { ...bindings, DB: db };
  for (const name of NAMESPACES) {
    const namespace = bindings[name] as unknown as DurableObjectNamespace<undefined>;
    (env as Record<string, unknown>)[name] = objects(namespace);
  }
  return {
    env,
    cost: () => ({
      d1Queries: d1.queries(),
      rowsRead: d1.rowsRead(),
      d1RoundTrips: d1.roundTrips(),
      objectCalls,
      sequentialRoundTrips: sequential,
    }),
    awaitedWithin(from, to) {
      const inside = trips
        .filter((t) => t.start >= from && t.end <= to)
        .sort((a, b) => a.start - b.start);
      let waves = 0;
      let until = Number.NEGATIVE_INFINITY;
      for (const t of inside) {
        if (t.start >= until) waves++;
        until = Math.max(until, t.end);
      }
      return waves;
    },
    reset() {
      trips = [];
      d1.reset();
      objectCalls = 0;
      sequential = 0;
    },
  };
}
