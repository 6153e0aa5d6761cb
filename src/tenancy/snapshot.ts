/**
 * A value loaded whole and shared by every request of this isolate: at most one load per `ttlMs`,
 * concurrent readers share it. A failed load keeps serving the last good value (retried after
 * `ttlMs`), or, with none, fails every reader for `retryMs` instead of loading again per request.
 */
export interface Snapshot<V> {
  get(): Promise<V>;
  /** The next `get` loads afresh (a change made in this isolate shows at once). */
  invalidate(): void;
}

export function createSnapshot<V>(
  load: () => Promise<V>,
  options: { ttlMs: number; retryMs: number; now?: () => number },
): Snapshot<V> {
  const now = options.now ?? (() => Date.now());
  let current: { value: Promise<V>; until: number } | undefined;
  let lastGood: { value: V } | undefined;
  return {
    get() {
      if (current && now() < current.until) return current.value;
      const loading = load().then(
        (value) => {
          lastGood = { value };
          return value;
        },
        (err: unknown) => {
          if (lastGood) return lastGood.value;
          throw err;
        },
      );
      const entry = { value: loading, until: now() + options.ttlMs };
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
