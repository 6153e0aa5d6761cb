import { StorageUnavailableError } from "../errors";
import { withTimeout } from "../timeout";

/** A storage call slower than this counts as failed: D1 can stall, and a request must not. */
export const STORAGE_TIMEOUT_MS = 3_000;

/**
 * Wraps every method of a store so that any failure, or no answer within `timeoutMs`, surfaces as
 * StorageUnavailableError: callers then fail closed (503) instead of mistaking an outage for a
 * missing key or job, or hanging until the client gives up.
 */
export function guardStorage<T extends object>(
  store: T,
  what: string,
  timeoutMs = STORAGE_TIMEOUT_MS,
): T {
  const guarded = {} as T;
  for (const [name, member] of Object.entries(store)) {
    (guarded as Record<string, unknown>)[name] =
      typeof member === "function"
        ? async (...args: unknown[]) => {
            try {
              return await withTimeout(member(...args), timeoutMs);
            } catch (err) {
              throw new StorageUnavailableError(`${what}.${name} failed`, { cause: err });
            }
          }
        : member;
  }
  return guarded;
}
