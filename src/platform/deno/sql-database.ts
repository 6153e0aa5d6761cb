import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { SqlDatabase, SqlResult, SqlStatement } from "../sql/database.ts";
import { inTransaction, plainRow, statementCache } from "./sqlite.ts";

type Bound = { query: string; params: SQLInputValue[] };
const BOUND = Symbol("bound");

/**
 * The stores' SQL database (src/platform/sql/database.ts) over node:sqlite: foreign keys
 * enforced, rows as plain objects, `batch()` one transaction. Calls are synchronous underneath
 * and answered as promises, as D1's are.
 */
export function sqliteDatabase(db: DatabaseSync): SqlDatabase {
  db.exec("PRAGMA foreign_keys = ON");
  const prepared = statementCache(db);

  const execute = ({ query, params }: Bound): SqlResult<Record<string, unknown>> => {
    const statement = prepared(query);
    if (statement.columns().length === 0) {
      const changes = Number(statement.run(...params).changes);
      return { results: [], meta: { changes, rows_read: 0, rows_written: changes } };
    }
    const results = statement.all(...params).map(plainRow);
    const writes = !/^\s*select/i.test(query);
    const changes = writes ? Number(prepared("SELECT changes() AS n").get()?.n) : 0;
    return { results, meta: { changes, rows_read: results.length, rows_written: changes } };
  };

  const statement = (query: string, params: SQLInputValue[] = []): SqlStatement => {
    const bound: Bound = { query, params };
    return {
      [BOUND]: bound,
      bind: (...values: unknown[]) => statement(query, values.map(toSqlValue)),
      first: async <T>() => (execute(bound).results[0] as T | undefined) ?? null,
      all: async <T>() => execute(bound) as SqlResult<T>,
      run: async <T>() => execute(bound) as SqlResult<T>,
    } as SqlStatement;
  };

  return {
    prepare: (query) => statement(query),
    async batch<T>(statements: SqlStatement[]) {
      const bound = statements.map((s) => (s as unknown as { [BOUND]: Bound })[BOUND]);
      return inTransaction(db, () => bound.map(execute)) as SqlResult<T>[];
    },
  };
}

/** D1's rules: booleans become 0/1, bytes go in as BLOBs, `undefined` is refused. */
function toSqlValue(value: unknown): SQLInputValue {
  if (value === null || typeof value === "string" || typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  throw new TypeError(`D1_TYPE_ERROR: Type '${typeof value}' not supported for value '${value}'`);
}

/**
 * Applies the migrations in `dir` not applied yet, in name order, each in its own transaction,
 * and records them in `d1_migrations` as `wrangler d1 migrations apply` does.
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
