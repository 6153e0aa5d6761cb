import type { DatabaseSync } from "node:sqlite";
import { statementCache } from "./sqlite.ts";

/** Workers KV's limits, kept so that code that works here works on Workers too. */
export const KV_MAX_VALUE_BYTES = 25 * 1024 * 1024;
export const KV_MIN_TTL_S = 60;
const KV_MAX_KEY_BYTES = 512;
const KV_MAX_METADATA_BYTES = 1024;

type ValueType = "text" | "json" | "arrayBuffer";
type Value = string | ArrayBuffer | ArrayBufferView;

export interface KVPutOptions {
  expiration?: number;
  expirationTtl?: number;
  metadata?: unknown;
}

/** The part of the `KVNamespace` binding the proxy uses. */
export interface KVNamespace {
  get(key: string, type?: ValueType | { type?: ValueType }): Promise<unknown>;
  getWithMetadata<M = unknown>(
    key: string,
    type?: ValueType | { type?: ValueType },
  ): Promise<{ value: unknown; metadata: M | null }>;
  put(key: string, value: Value, options?: KVPutOptions): Promise<void>;
  delete(key: string): Promise<void>;
}

interface Row {
  value: Uint8Array;
  metadata: string | null;
}

/**
 * KV over a SQLite table: values with their metadata and expiry, refused past KV's limits
 * (25 MiB values, 1 KiB metadata, TTLs of a minute or more). Expired entries read as missing
 * and are swept on start and every `sweepMs`. One process reads what it wrote at once, which
 * KV promises only within a location; nothing here relies on more than KV gives.
 */
export function sqliteKv(
  db: DatabaseSync,
  options: { now?: () => number; sweepMs?: number } = {},
): KVNamespace & { sweep(): number; close(): void } {
  const now = options.now ?? Date.now;
  db.exec(`CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    metadata TEXT,
    expires_at INTEGER
  )`);
  const sql = statementCache(db);
  const encoder = new TextEncoder();

  const read = (key: string): Row | undefined =>
    sql(
      "SELECT value, metadata FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
    ).get(key, now()) as Row | undefined;

  const decode = (row: Row, type: ValueType | { type?: ValueType } | undefined) => {
    const as = (typeof type === "string" ? type : type?.type) ?? "text";
    if (as === "arrayBuffer") return row.value.slice().buffer;
    const text = new TextDecoder().decode(row.value);
    return as === "json" ? JSON.parse(text) : text;
  };

  const sweep = () =>
    Number(
      sql("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?").run(now()).changes,
    );
  sweep();
  const sweeper = setInterval(sweep, options.sweepMs ?? 10 * 60_000);
  Deno.unrefTimer(sweeper);

  return {
    async get(key, type) {
      const row = read(key);
      return row ? decode(row, type) : null;
    },
    async getWithMetadata<M>(key: string, type?: ValueType | { type?: ValueType }) {
      const row = read(key);
      if (!row) return { value: null, metadata: null };
      return {
        value: decode(row, type),
        metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as M),
      };
    },
    async put(key, value, putOptions = {}) {
      if (encoder.encode(key).length > KV_MAX_KEY_BYTES) {
        throw new Error(`KV PUT failed: 414 key longer than ${KV_MAX_KEY_BYTES} bytes`);
      }
      const bytes =
        typeof value === "string"
          ? encoder.encode(value)
          : value instanceof ArrayBuffer
            ? new Uint8Array(value)
            : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      if (bytes.length > KV_MAX_VALUE_BYTES) {
        throw new Error(`KV PUT failed: 413 Value length of ${bytes.length} exceeds limit`);
      }
      const metadata =
        putOptions.metadata === undefined ? null : JSON.stringify(putOptions.metadata);
      if (metadata !== null && encoder.encode(metadata).length > KV_MAX_METADATA_BYTES) {
        throw new Error("KV PUT failed: 413 metadata larger than 1024 bytes");
      }
      let expiresAt: number | null = null;
      if (putOptions.expirationTtl !== undefined) {
        if (putOptions.expirationTtl < KV_MIN_TTL_S) {
          throw new Error(
            `KV PUT failed: 400 Invalid expiration_ttl of ${putOptions.expirationTtl}. Expiration TTL must be at least ${KV_MIN_TTL_S}.`,
          );
        }
        expiresAt = now() + putOptions.expirationTtl * 1000;
      } else if (putOptions.expiration !== undefined) {
        expiresAt = putOptions.expiration * 1000;
      }
      sql("INSERT OR REPLACE INTO kv (key, value, metadata, expires_at) VALUES (?, ?, ?, ?)").run(
        key,
        bytes,
        metadata,
        expiresAt,
      );
    },
    async delete(key) {
      sql("DELETE FROM kv WHERE key = ?").run(key);
    },
    sweep,
    close: () => clearInterval(sweeper),
  };
}
