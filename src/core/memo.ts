/**
 * A small per-isolate memo with a hard age limit, so a change made elsewhere (a revoked key) is
 * seen within `ttlMs`; the oldest entry goes first when it is full.
 */
export interface Memo<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  clear(): void;
}

export function createMemo<V>(options: {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}): Memo<V> {
  const now = options.now ?? (() => Date.now());
  const entries = new Map<string, { value: V; expires: number }>();
  return {
    get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expires <= now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.value;
    },
    set(key, value) {
      entries.delete(key);
      // Maps iterate in insertion order: the first entry is the oldest.
      if (entries.size >= options.maxEntries) entries.delete(entries.keys().next().value as string);
      entries.set(key, { value, expires: now() + options.ttlMs });
    },
    delete: (key) => entries.delete(key),
    clear: () => entries.clear(),
  };
}
