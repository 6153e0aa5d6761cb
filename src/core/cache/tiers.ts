import type { CachedJob } from "./entry";

/** One place a job can be cached. Reads may throw or hang: the tiered cache fails open. */
export interface CacheTier {
  name: "memory" | "cache" | "kv";
  /** In this isolate, no I/O: filled before the answer goes back, read without a timeout. */
  local: boolean;
  /** Whether this tier keeps entries of this kind (KV keeps only terminal jobs). */
  keeps(entry: CachedJob): boolean;
  /** Whether it can hold a CREATED/RUNNING answer at all (KV cannot). */
  keepsPending: boolean;
  get(id: string): Promise<CachedJob | null>;
  put(entry: CachedJob, ttlMs: number): Promise<void>;
  delete(id: string): Promise<void>;
}
