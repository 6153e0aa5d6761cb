/** What the far-storage run (workerd) hands to the benchmark (Node): shared by both sides. */

/** Every case the run measures, in the order it measures them. */
export const FAR_STORAGE_CASES = [
  "cold-hit",
  "cold-hit-unlimited",
  "neighbour-hit",
  "warm-hits",
  "unknown-keys",
  "unknown-origins",
  "idle",
] as const;
export type FarStorageCase = (typeof FAR_STORAGE_CASES)[number];

/**
 * Storage work of one case, over all of its requests. A case measured more than once (`samples`)
 * gives each count's highest value and the median time.
 */
export interface StorageCost {
  samples: number;
  requests: number;
  /** D1 statements run, alone or as part of a batch. */
  d1Queries: number;
  /** D1's own count (`meta.rows_read`), summed. */
  rowsRead: number;
  /** Calls that went to D1: a statement run alone, or a whole batch. */
  d1RoundTrips: number;
  /** Durable Object RPC calls and fetches (each one a round trip too). */
  objectCalls: number;
  /** Round trips to D1 or a Durable Object one after another: one made while another is in flight adds nothing. */
  sequentialRoundTrips: number;
  /**
   * Of those, the ones the answers waited for: made and finished between a request and the end of
   * its answer (the rest ran after the answer, such as a lease renewed in the background).
   */
  awaitedRoundTrips: number;
  /** From each request to the end of its answer, summed (work after the answer is not in it). */
  ms: number;
  /** The slowest request's. */
  maxMs: number;
}

export interface FarStoragePopulation {
  /** Tenants besides the few the run makes itself, each with two live API keys and one origin. */
  otherTenants: number;
  /** How long seeding them took (SQL in D1, no delay). */
  seedMs: number;
  /** The control: rows the meter counts for one read of the whole api_keys table. */
  wholeKeyTableRows: number;
  cases: Record<FarStorageCase, StorageCost>;
}

export interface FarStorageFigures {
  /** In front of every D1 round trip and every Durable Object call. */
  delayMs: number;
  populations: FarStoragePopulation[];
}

/** What `inject("farStorage")` gives the run (bench/far-storage/collector.ts). */
export interface FarStorageSettings {
  tenants: number;
  delayMs: number;
  /** Where the run POSTs its FarStorageFigures. */
  resultsUrl: string;
}
