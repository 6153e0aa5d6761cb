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
