/**
 * A value loaded whole and shared by every request of this isolate: at most one load per `ttlMs`,
 * concurrent readers share it. A failed load fails its readers and is tried again after
 * `retryMs` (0: by the next reader); with `serveStale`, the last good value is served instead.
 */
export interface Snapshot<V> {
  /** `maxAgeMs`: load afresh if the value was loaded (or its load started) longer ago. */
  get(maxAgeMs?: number): Promise<V>;
  /** The next `get` loads afresh (a change made in this isolate shows at once). */
  invalidate(): void;
}

export function createSnapshot<V>(
  load: () => Promise<V>,
  options: { ttlMs: number; retryMs: number; serveStale: boolean; now?: () => number },
): Snapshot<V> {
  const now = options.now ?? (() => Date.now());
  let current: { value: Promise<V>; startedAt: number; until: number } | undefined;
  let lastGood: { value: V } | undefined;
  return {
    get(maxAgeMs = options.ttlMs) {
      const at = now();
      if (current && at < current.until && at - current.startedAt < maxAgeMs) return current.value;
      const loading = load().then(
        (value) => {
          lastGood = { value };
          return value;
        },
        (err: unknown) => {
          if (options.serveStale && lastGood) return lastGood.value;
          throw err;
        },
      );
      const entry = { value: loading, startedAt: at, until: at + options.ttlMs };
      current = entry;
      loading.catch(() => {
        entry.until = Math.min(entry.until, now() + options.retryMs);
      });
      return loading;
    },
    invalidate() {
      current = undefined;
    },
  };
}
