import { LEDGER_TIMEOUT_MS, OUTBOX_TIMEOUT_MS } from "./creation/deadlines";

/**
 * What a per-key actor (a tenant's limiter, a job's watcher) keeps between calls: a Durable
 * Object's storage on Workers. Values are structured clones: a value read is never the one put.
 * The runtime runs one call of an actor at a time, so an actor's reads and writes never interleave
 * with another call's.
 */
export interface ObjectStorage {
  get<T>(key: string): Promise<T | undefined>;
  /** Writes every entry, all or none. */
  put(entries: Record<string, unknown>): Promise<void>;
  delete(keys: string[]): Promise<void>;
  deleteAll(): Promise<void>;
  list<T>(options: { prefix: string }): Promise<Map<string, T>>;
  /** The actor's one alarm: when it fires next (ms since the epoch), or null. */
  getAlarm(): Promise<number | null>;
  setAlarm(at: number): Promise<void>;
  deleteAlarm(): Promise<void>;
}

/** A value SQLite stores. */
export type SqlValue = string | number | null | ArrayBuffer;

/** An actor's own SQLite database (a SQLite-backed Durable Object's `storage.sql` on Workers). */
export interface ObjectSql {
  exec<T extends Record<string, SqlValue>>(
    query: string,
    ...bindings: SqlValue[]
  ): {
    toArray(): T[];
    one(): T;
    /**
     * Zero when the statement changed nothing. Otherwise a count that includes index entries on
     * Workers and not on Deno: compare it with zero only.
     */
    readonly rowsWritten: number;
  };
}

/** The time, given to actors so that tests can move it. */
export type Clock = () => number;

/**
 * How long each kind of actor (a Durable Object on Workers) may take to answer one call before it counts as
 * unavailable: the one table of object deadlines (a job's watcher, whose deadline follows the
 * upstream timeout, is given its own by the services).
 */
export const OBJECT_DEADLINES_MS = {
  /** A tenant's rate limiter: its counters and stream leases; slower, and the request is refused. */
  limiter: 2_000,
  ledger: LEDGER_TIMEOUT_MS,
  /** A wake of the settler is never worth waiting for. */
  settler: 2_000,
  /** A metrics flush or read (a flush that fails is kept for the next one). */
  metrics: 5_000,
  outbox: OUTBOX_TIMEOUT_MS,
  /** A job's watcher told to watch it to the end (the outbox's caller waits as long). */
  watch: OUTBOX_TIMEOUT_MS,
  /** A budget alert handed to an outbox; slower, and the settler's next run sends it again. */
  alert: 1_000,
} as const;

/**
 * A per-key actor as its callers see it, through whichever host runs it (a Durable Object stub on
 * Workers, the in-process host on Deno): each public method answering a promise of what the
 * actor's method answers. `alarm` is the host's to call.
 */
export type ActorCalls<T> = {
  [K in keyof T as K extends "alarm"
    ? never
    : T[K] extends (...args: never[]) => unknown
      ? K
      : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};
