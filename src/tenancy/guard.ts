/** A storage call that failed (D1 down, timed out, throttled): answered 503, never as "not found". */
export class StorageUnavailableError extends Error {
  override name = "StorageUnavailableError";
}

/**
 * Wraps every method of a store so that any failure surfaces as StorageUnavailableError: callers
 * then fail closed (503) instead of mistaking an outage for a missing key or job.
 */
export function guardStorage<T extends object>(store: T, what: string): T {
  const guarded = {} as T;
  for (const [name, member] of Object.entries(store)) {
    (guarded as Record<string, unknown>)[name] =
      typeof member === "function"
        ? async (...args: unknown[]) => {
            try {
              return await member(...args);
            } catch (err) {
              throw new StorageUnavailableError(`${what}.${name} failed`, { cause: err });
            }
          }
        : member;
  }
  return guarded;
}
