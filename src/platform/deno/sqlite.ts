import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";

/** Opens a SQLite file as the adapters use it: WAL for concurrent readers, waits on a busy lock. */
export function openSqlite(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
  return db;
}

/** Prepared statements by SQL text: the proxy runs the same few statements over and over. */
export function statementCache(db: DatabaseSync, max = 256): (sql: string) => StatementSync {
  const statements = new Map<string, StatementSync>();
  return (sql) => {
    let statement = statements.get(sql);
    if (statement) return statement;
    statement = db.prepare(sql);
    if (statements.size >= max) statements.delete(statements.keys().next().value as string);
    statements.set(sql, statement);
    return statement;
  };
}

/** Rows as plain objects, as D1 and Durable Object SQL give them (node:sqlite's have no prototype). */
export function plainRow(row: Record<string, SQLInputValue>): Record<string, unknown> {
  const plain: Record<string, unknown> = {};
  for (const key in row) {
    const value = row[key];
    plain[key] = value instanceof Uint8Array ? arrayBufferOf(value) : value;
  }
  return plain;
}

function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Runs `work` in one transaction: all of it or none of it. */
export function inTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}
