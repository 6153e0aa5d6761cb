import type { ObjectStorage } from "./objects";

/** An actor's storage in memory, for tests: values cloned as a Durable Object's are. */
export function memoryObjectStorage(): ObjectStorage & {
  readonly entries: Map<string, unknown>;
  readonly alarm: () => number | null;
} {
  const entries = new Map<string, unknown>();
  let alarm: number | null = null;
  return {
    entries,
    alarm: () => alarm,
    async get<T>(key: string) {
      return structuredClone(entries.get(key)) as T | undefined;
    },
    async put(values) {
      // Every value cloned before any is stored: a value that cannot be stored stores none.
      const cloned = structuredClone(Object.entries(values));
      for (const [key, value] of cloned) entries.set(key, value);
    },
    async delete(keys) {
      for (const key of keys) entries.delete(key);
    },
    async deleteAll() {
      entries.clear();
    },
    async list<T>({ prefix }: { prefix: string }) {
      const found = [...entries]
        .filter(([key]) => key.startsWith(prefix))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return new Map(found.map(([key, value]) => [key, structuredClone(value) as T]));
    },
    async getAlarm() {
      return alarm;
    },
    async setAlarm(at) {
      alarm = at;
    },
    async deleteAlarm() {
      alarm = null;
    },
  };
}
