import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { inTransaction, plainRow, statementCache } from "./sqlite.ts";

/** What D1 answers for `all()`, `run()` and each statement of `batch()`. */
export interface D1Result<T = Record<string, unknown>> {
  results: T[];
  success: true;
  meta: {
    duration: number;
    changes: number;
    last_row_id: number;
    changed_db: boolean;
    rows_read: number;
    rows_written: number;
  };
}

export interface D1PreparedStatement {
  bind(...values: unknown[]): D1PreparedStatement;
  first<T = Record<string, unknown>>(column?: string): Promise<T | null>;
  all<T = Record<string, unknown>>(): Promise<D1Result<T>>;
  run<T = Record<string, unknown>>(): Promise<D1Result<T>>;
  raw<T = unknown[]>(options?: { columnNames?: boolean }): Promise<T[]>;
}

/** The part of the `D1Database` binding the proxy uses, over a node:sqlite database. */
export interface D1Database {
  prepare(sql: string): D1PreparedStatement;
  batch<T = Record<string, unknown>>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]>;
  exec(sql: string): Promise<{ count: number; duration: number }>;
}

type Bound = { sql: string; params: SQLInputValue[] };
const BOUND = Symbol("bound");

/**
 * D1 over SQLite, behaving as D1 does where the proxy could notice: foreign keys enforced, values
 * bound as D1 binds them (booleans as 0/1, `undefined` refused), rows as plain objects, `batch()`
 * all or nothing. Calls are synchronous underneath and answered as promises, as D1's are.
 */
export function sqliteD1(db: DatabaseSync): D1Database {
  db.exec("PRAGMA foreign_keys = ON");
  const prepared = statementCache(db);
  const changes = db.prepare("SELECT changes() AS changes, last_insert_rowid() AS id");

  const execute = ({ sql, params }: Bound): D1Result => {
    const started = performance.now();
    const statement = prepared(sql);
    let results: Record<string, unknown>[] = [];
    let written = 0;
    let lastRowId = 0;
    if (returnsRows(statement)) {
      results = statement.all(...params).map(plainRow);
      if (!statement.sourceSQL.trimStart().toUpperCase().startsWith("SELECT")) {
        const row = changes.get() as { changes: number; id: number };
        written = row.changes;
        lastRowId = row.id;
      }
    } else {
      const outcome = statement.run(...params);
      written = Number(outcome.changes);
      lastRowId = Number(outcome.lastInsertRowid);
    }
    return {
      results,
      success: true,
      meta: {
        duration: performance.now() - started,
        changes: written,
        last_row_id: lastRowId,
        changed_db: written > 0,
        rows_read: results.length,
        rows_written: written,
      },
    };
  };

  const statement = (sql: string, params: SQLInputValue[] = []): D1PreparedStatement => {
    const bound: Bound = { sql, params };
    const self = {
      [BOUND]: bound,
      bind: (...values: unknown[]) => statement(sql, values.map(toSqlValue)),
      async first<T>(column?: string) {
        const row = execute(bound).results[0];
        if (!row) return null;
        if (column === undefined) return row as T;
        if (!(column in row)) throw new Error(`D1_COLUMN_NOTFOUND: Column not found (${column})`);
        return row[column] as T;
      },
      all: async <T>() => execute(bound) as D1Result<T>,
      run: async <T>() => execute(bound) as D1Result<T>,
      async raw<T>(options?: { columnNames?: boolean }) {
        const rows = execute(bound).results;
        const values = rows.map((row) => Object.values(row));
        const names = options?.columnNames
          ? [
              prepared(sql)
                .columns()
                .map((c) => c.name),
            ]
          : [];
        return [...names, ...values] as T[];
      },
    };
    return self;
  };

  return {
    prepare: (sql) => statement(sql),
    async batch<T>(statements: D1PreparedStatement[]) {
      const bound = statements.map((s) => (s as unknown as { [BOUND]: Bound })[BOUND]);
      return inTransaction(db, () => bound.map(execute)) as D1Result<T>[];
    },
    async exec(sql) {
      const started = performance.now();
      const count = sql.split("\n").filter((line) => line.trim() !== "").length;
      db.exec(sql);
      return { count, duration: performance.now() - started };
    },
  };
}

function returnsRows(statement: StatementSync): boolean {
  return statement.columns().length > 0;
}

/** D1's type rules: booleans become 0/1, `undefined` is refused, bytes go in as BLOBs. */
function toSqlValue(value: unknown): SQLInputValue {
  if (value === null || typeof value === "string" || typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "bigint") return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  throw new TypeError(`D1_TYPE_ERROR: Type '${typeof value}' not supported for value '${value}'`);
}

/**
 * Applies the D1 migrations in `dir` not applied yet, in name order, each in its own
 * transaction, and records them in `d1_migrations` as `wrangler d1 migrations apply` does.
 */
export function applyMigrations(db: DatabaseSync, dir: string): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS d1_migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE,
    applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
  )`);
  const applied = new Set(
    db
      .prepare("SELECT name FROM d1_migrations")
      .all()
      .map((row) => String(row.name)),
  );
  const pending = readdirSync(dir)
    .filter((name) => name.endsWith(".sql") && !applied.has(name))
    .sort();
  for (const name of pending) {
    inTransaction(db, () => {
      db.exec(readFileSync(join(dir, name), "utf8"));
      db.prepare("INSERT INTO d1_migrations (name) VALUES (?)").run(name);
    });
  }
  return pending;
}
