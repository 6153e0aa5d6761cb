import type { ObjectSql, ObjectStorage } from "../../core/objects";

/** A Durable Object's storage as the core's actors see it. */
export function durableObjectStorage(storage: DurableObjectStorage): ObjectStorage {
  return {
    get: (key) => storage.get(key),
    put: (entries) => storage.put(entries),
    async delete(keys) {
      await storage.delete(keys);
    },
    deleteAll: () => storage.deleteAll(),
    list: (options) => storage.list(options),
    getAlarm: () => storage.getAlarm(),
    setAlarm: (at) => storage.setAlarm(at),
    deleteAlarm: () => storage.deleteAlarm(),
  };
}

/** A SQLite-backed Durable Object's database as the core's actors see it. */
export function durableObjectSql(storage: DurableObjectStorage): ObjectSql {
  return { exec: (query, ...bindings) => storage.sql.exec(query, ...bindings) };
}
