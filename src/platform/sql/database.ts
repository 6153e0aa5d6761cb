/** What a statement answers: its rows, and what it changed. */
export interface SqlResult<T = unknown> {
  results: T[];
  meta: { changes: number; rows_read: number; rows_written: number };
}

export interface SqlStatement {
  /** Binds as D1 does: booleans as 0 and 1, bytes as BLOBs, `undefined` refused. */
  bind(...values: unknown[]): SqlStatement;
  /** The first row, or null. */
  first<T = Record<string, unknown>>(): Promise<T | null>;
  all<T = Record<string, unknown>>(): Promise<SqlResult<T>>;
  run<T = Record<string, unknown>>(): Promise<SqlResult<T>>;
}

/**
 * The SQL database the stores of this folder are written for: D1's own shape, which the D1
 * binding is as it stands (Workers) and `sqliteDatabase` gives over node:sqlite (Deno).
 * `batch` runs its statements in one transaction: all of them or none.
 */
export interface SqlDatabase {
  prepare(query: string): SqlStatement;
  batch<T = Record<string, unknown>>(statements: SqlStatement[]): Promise<SqlResult<T>[]>;
}
