import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";

/** The data holds tenants' keys' hashes and webhook secrets: only the proxy's user reads it. */
const PRIVATE_FILE = 0o600;
const PRIVATE_DIR = 0o700;

/** A directory (and its missing parents) only the proxy's user can enter. */
export function privateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: PRIVATE_DIR });
  chmodSync(path, PRIVATE_DIR);
}

/**
 * A SQLite file created 0600 (SQLite gives its -wal and -shm files the mode of the database), or
 * an existing one made so.
 */
export function openPrivateSqlite(path: string): DatabaseSync {
  closeSync(openSync(path, "a", PRIVATE_FILE));
  chmodSync(path, PRIVATE_FILE);
  return new DatabaseSync(path);
}

/**
 * Opens a SQLite file as the adapters use it: WAL for concurrent readers, waits on a busy lock.
 * `synchronous = FULL` syncs the WAL at every commit, so a write has reached the disk when its call
 * returns, before any answer that depends on it (workerd's output gate gives Durable Objects that).
 */
export function openSqlite(path: string): DatabaseSync {
  const db = openPrivateSqlite(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;");
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
