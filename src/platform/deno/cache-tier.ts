import type { DatabaseSync } from "node:sqlite";
import { type CachedJob, isTerminal } from "../../core/cache/entry.ts";
import type { CacheTier } from "../../core/cache/tiers.ts";
import type { Logger } from "../../core/log.ts";
import { statementCache } from "./sqlite.ts";

/** Entries larger than this stay in memory only (KV's own limit on Workers). */
export const DISK_MAX_ENTRY_BYTES = 25 * 1024 * 1024;

type Metadata = Omit<CachedJob, "id" | "body">;

/**
 * Finished jobs in a SQLite table, shared by the process's requests and its job watchers: the
 * Deno counterpart of Workers KV (the table is the one earlier versions kept their KV emulation
 * in, so their data carries over). Expired entries read as missing and are swept on start and
 * every `sweepMs`.
 */
export function sqliteTier(
  db: DatabaseSync,
  options: { now?: () => number; sweepMs?: number; log?: Logger } = {},
): CacheTier & { close(): void } {
  const now = options.now ?? Date.now;
  db.exec(`CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    metadata TEXT,
    expires_at INTEGER
  )`);
  const sql = statementCache(db);
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const sweep = () =>
    sql("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?").run(now());
  sweep();
  const sweeper = setInterval(sweep, options.sweepMs ?? 10 * 60_000);
  Deno.unrefTimer(sweeper);

  return {
    name: "kv",
    local: false,
    keepsPending: false,
    keeps(entry) {
      if (!isTerminal(entry)) return false;
      // UTF-8 takes at most 3 bytes per UTF-16 unit: only long bodies need counting.
      if (entry.body.length * 3 <= DISK_MAX_ENTRY_BYTES) return true;
      const bytes = encoder.encode(entry.body).length;
      if (bytes <= DISK_MAX_ENTRY_BYTES) return true;
      options.log?.warn("job too large for the finished-jobs table: not kept there", {
        jobId: entry.id,
        bytes,
      });
      return false;
    },
    async get(id) {
      const row = sql(
        "SELECT value, metadata FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
      ).get(`job:${id}`, now()) as { value: Uint8Array; metadata: string | null } | undefined;
      if (!row?.metadata) return null;
      return { id, body: decoder.decode(row.value), ...(JSON.parse(row.metadata) as Metadata) };
    },
    async put(entry, ttlMs) {
      const { id, body, ...metadata } = entry;
      sql("INSERT OR REPLACE INTO kv (key, value, metadata, expires_at) VALUES (?, ?, ?, ?)").run(
        `job:${id}`,
        encoder.encode(body),
        JSON.stringify(metadata),
        now() + ttlMs,
      );
    },
    async delete(id) {
      sql("DELETE FROM kv WHERE key = ?").run(`job:${id}`);
    },
    close: () => clearInterval(sweeper),
  };
}
