import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import { deserialize, serialize } from "node:v8";
import { StorageUnavailableError } from "../../core/errors.ts";
import type { ActorCalls, ObjectSql, ObjectStorage, SqlValue } from "../../core/objects.ts";
import { withTimeout } from "../../core/timeout.ts";
import { inTransaction, openSqlite, plainRow, privateDir, statementCache } from "./sqlite.ts";

/** What the host hands an actor it builds: its name, its storage (key-value and SQL), its alarm. */
export interface ActorParts {
  name: string;
  storage: ObjectStorage;
  sql: ObjectSql;
}

/** An actor of the core (src/core/objects.ts): methods, and the alarm the host calls. */
type Actor = object & { alarm?(): Promise<void> };

interface HostOptions {
  /** Actors' storage lives under `<dir>/<kind>/<id>.sqlite`; alarms in `<dir>/index.sqlite`. */
  dir: string;
  /** Work that must finish before the process exits (alarms running). */
  waitUntil(promise: Promise<unknown>): void;
  /** An actor this long without a call, an open stream or an alarm running is evicted. */
  idleMs?: number;
}

/** workerd evicts an idle object after some tens of seconds; its storage brings it back. */
const IDLE_EVICTION_MS = 30_000;
/** A failing alarm is tried again with back-off, six times from 2 s, as workerd does. */
const ALARM_RETRIES = 6;
const ALARM_RETRY_BASE_MS = 2_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The core's per-key actors in this process, one live instance per kind and name, as workerd runs
 * Durable Objects: a call starts only while no other call of the same actor is in a storage step
 * (workerd's input gate: an actor's reads and writes never interleave with another call's, while
 * its waits on the network do), arguments and answers are structured-cloned (a caller never holds
 * the actor's own objects), each actor's storage is a SQLite file of its own, and alarms are
 * timers kept on disk and armed again on start. An actor idle for `idleMs` is evicted: the next
 * call builds it again from its storage. Writes are synchronous and synced (./sqlite.ts) before a
 * call answers, so an answer never depends on a write a power cut could still lose.
 */
export class ActorHost {
  private readonly index: DatabaseSync;
  private readonly alarms: AlarmTable;
  private readonly kinds = new Map<string, (parts: ActorParts) => Actor>();
  private readonly actors = new Map<string, HostedActor>();
  private closed = false;

  constructor(readonly options: HostOptions) {
    privateDir(options.dir);
    this.index = openSqlite(join(options.dir, "index.sqlite"));
    this.index.exec(`CREATE TABLE IF NOT EXISTS alarms (
      class TEXT NOT NULL,
      id TEXT NOT NULL,
      name TEXT,
      scheduled_at INTEGER NOT NULL,
      PRIMARY KEY (class, id)
    )`);
    this.alarms = alarmTable(this.index);
  }

  /**
   * The actors of one kind, each built by `build` on its first call: `kind(…)(name)` is the actor
   * named `name`, each call of which fails with `StorageUnavailableError` (naming the actor, the
   * method and why) when it throws or does not answer within `deadlineMs` (the kind's, unless the
   * caller gives one), as Workers' object calls do (src/platform/cloudflare/object-call.ts).
   */
  kind<A extends Actor>(
    kind: string,
    build: (parts: ActorParts) => A,
    kindDeadlineMs: number,
  ): (name: string, deadlineMs?: number) => ActorCalls<A> {
    this.kinds.set(kind, build);
    return (name, deadlineMs = kindDeadlineMs) =>
      new Proxy({} as ActorCalls<A>, {
        get: (_, method) => {
          if (method === "then" || typeof method === "symbol") return undefined;
          return async (...args: unknown[]) => {
            try {
              return await withTimeout(this.actor(kind, name).call(method, args), deadlineMs);
            } catch (err) {
              const why = err instanceof Error ? err.message : String(err);
              throw new StorageUnavailableError(`${kind}.${method}: ${why}`, { cause: err });
            }
          };
        },
      });
  }

  /** Arms the alarms stored by an earlier run: their actors come back to life when they fire. */
  rearmAlarms(): number {
    let armed = 0;
    for (const row of this.alarms.all()) {
      if (!this.kinds.has(row.class) || row.name === null) continue;
      this.actor(row.class, row.name).armAlarm(row.scheduled_at);
      armed++;
    }
    return armed;
  }

  /** Stops the alarm timers and closes every actor's storage. */
  close(): void {
    this.closed = true;
    for (const actor of this.actors.values()) actor.close();
    this.index.close();
  }

  get isClosed() {
    return this.closed;
  }

  private actor(kind: string, name: string): HostedActor {
    const key = `${kind}/${name}`;
    let actor = this.actors.get(key);
    if (!actor) {
      if (this.closed) throw new Error("the actor host is closed");
      const build = this.kinds.get(kind) as (parts: ActorParts) => Actor;
      // The file names of the Durable Object emulation this host replaced: their data carries over.
      const id = createHash("sha256").update(`${kind}\0${name}`).digest("hex");
      actor = new HostedActor({
        host: this,
        kind,
        id,
        name,
        build,
        path: join(this.options.dir, kind, `${id}.sqlite`),
        alarms: this.alarms,
        forget: () => this.actors.delete(key),
      });
      this.actors.set(key, actor);
    }
    return actor;
  }
}

type AlarmTable = ReturnType<typeof alarmTable>;

function alarmTable(index: DatabaseSync) {
  const sql = statementCache(index);
  return {
    all: () =>
      sql("SELECT class, id, name, scheduled_at FROM alarms").all() as {
        class: string;
        id: string;
        name: string | null;
        scheduled_at: number;
      }[],
    get: (kind: string, id: string) =>
      (
        sql("SELECT scheduled_at FROM alarms WHERE class = ? AND id = ?").get(kind, id) as
          | { scheduled_at: number }
          | undefined
      )?.scheduled_at ?? null,
    set: (kind: string, id: string, name: string, at: number) =>
      sql("INSERT OR REPLACE INTO alarms (class, id, name, scheduled_at) VALUES (?, ?, ?, ?)").run(
        kind,
        id,
        name,
        at,
      ),
    delete: (kind: string, id: string, onlyAt?: number) =>
      onlyAt === undefined
        ? sql("DELETE FROM alarms WHERE class = ? AND id = ?").run(kind, id)
        : sql("DELETE FROM alarms WHERE class = ? AND id = ? AND scheduled_at = ?").run(
            kind,
            id,
            onlyAt,
          ),
  };
}

class HostedActor {
  private instance: Actor | undefined;
  /** While one is set, no new call starts (workerd's input gate): until the next task. */
  private gate: Promise<void> | undefined;
  private readonly file: ActorFile;
  private readonly storage: ObjectStorage;
  private alarmTimer: ReturnType<typeof setTimeout> | undefined;
  private firingAt: number | undefined;
  private alarmRetries = 0;
  /** Calls running or queued, open streams and alarms: while any, no eviction. */
  private busy = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly at: {
      host: ActorHost;
      kind: string;
      id: string;
      name: string;
      build: (parts: ActorParts) => Actor;
      path: string;
      alarms: AlarmTable;
      forget(): void;
    },
  ) {
    this.file = new ActorFile(at.path);
    this.storage = this.file.storage({
      get: () => {
        const next = at.alarms.get(at.kind, at.id);
        // The alarm being handled is no longer pending, as in workerd.
        return next === this.firingAt ? null : next;
      },
      set: (when) => {
        at.alarms.set(at.kind, at.id, at.name, when);
        if (this.firingAt === undefined) this.armAlarm(when);
      },
      delete: () => {
        at.alarms.delete(at.kind, at.id);
        clearTimeout(this.alarmTimer);
        this.alarmTimer = undefined;
      },
    });
    this.settle();
  }

  close(): void {
    clearTimeout(this.alarmTimer);
    clearTimeout(this.idleTimer);
    this.file.close();
  }

  /** One call: its arguments and its answer cloned; a stream answered passes as it is. */
  call(method: string, args: unknown[]): Promise<unknown> {
    const cloned = structuredClone(args);
    return this.hold(
      this.deliver(async () => {
        const actor = this.live() as Record<string, unknown>;
        const fn = actor[method];
        if (typeof fn !== "function" || method === "alarm") {
          throw new TypeError(`${this.at.kind} has no method "${method}"`);
        }
        const answer = await fn.apply(actor, cloned);
        return answer instanceof ReadableStream
          ? this.heldWhileOpen(answer)
          : structuredClone(answer);
      }),
    );
  }

  armAlarm(when: number): void {
    clearTimeout(this.alarmTimer);
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, when - Date.now()));
    this.alarmTimer = setTimeout(() => {
      if (Date.now() < when) return this.armAlarm(when);
      this.alarmTimer = undefined;
      this.at.host.options.waitUntil(this.hold(this.fireAlarm(when)));
    }, delay);
  }

  private async fireAlarm(when: number): Promise<void> {
    const { host, alarms, kind, id, name } = this.at;
    if (host.isClosed || this.firingAt !== undefined) return;
    this.firingAt = when;
    try {
      await this.deliver(() => this.live().alarm?.());
      this.alarmRetries = 0;
      if (!host.isClosed) alarms.delete(kind, id, when);
    } catch (err) {
      console.log(
        JSON.stringify({
          level: "error",
          msg: "actor alarm failed",
          kind,
          name,
          retry: this.alarmRetries,
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        }),
      );
      if (!host.isClosed && alarms.get(kind, id) === when) {
        if (this.alarmRetries < ALARM_RETRIES) {
          alarms.set(kind, id, name, Date.now() + ALARM_RETRY_BASE_MS * 2 ** this.alarmRetries);
          this.alarmRetries++;
        } else {
          alarms.delete(kind, id, when);
          this.alarmRetries = 0;
        }
      }
    } finally {
      this.firingAt = undefined;
      if (!host.isClosed) {
        const next = alarms.get(kind, id);
        if (next !== null) this.armAlarm(next);
      }
    }
  }

  /** The actor, built on its first call after a start or an eviction. */
  private live(): Actor {
    this.instance ??= this.at.build({
      name: this.at.name,
      storage: this.storage,
      sql: { exec: (query, ...bindings) => this.file.exec(query, bindings) },
    });
    return this.instance;
  }

  /**
   * Runs a call once the gate is open, and closes it until the next turn of the event loop: each
   * call starts in a task of its own and runs alone until it waits on something outside the
   * process (storage steps are synchronous underneath, so they never let another call in), as
   * workerd delivers a Durable Object's events through its input gate.
   */
  private async deliver<T>(event: () => T | Promise<T>): Promise<T> {
    if (this.at.host.isClosed) throw new Error("the actor host is closed");
    while (this.gate) await this.gate;
    // node:timers' immediates are tasks too, without the 4 ms that nested timeouts are held to.
    this.gate = new Promise<void>((resolve) =>
      setImmediate(() => {
        this.gate = undefined;
        resolve();
      }),
    );
    return await event();
  }

  /** Counts `work` as activity until it settles. */
  private hold<T>(work: Promise<T>): Promise<T> {
    this.busy++;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    return work.finally(() => {
      this.busy--;
      this.settle();
    });
  }

  /** Once nothing runs, the eviction countdown starts. */
  private settle(): void {
    if (this.busy > 0 || this.at.host.isClosed) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(
      () => this.evict(),
      this.at.host.options.idleMs ?? IDLE_EVICTION_MS,
    );
    Deno.unrefTimer(this.idleTimer);
  }

  private evict(): void {
    if (this.busy > 0 || this.at.host.isClosed) return;
    this.instance = undefined;
    this.file.close();
    // An armed alarm keeps this small shell (its timer) to wake the actor; nothing else does.
    if (this.alarmTimer === undefined) this.at.forget();
  }

  /** A stream answered by the actor keeps it alive (not evicted) while it is open. */
  private heldWhileOpen(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    let release: () => void = () => {};
    void this.hold(new Promise<void>((resolve) => (release = resolve)));
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            release();
            controller.close();
          } else controller.enqueue(value);
        } catch (err) {
          release();
          controller.error(err);
        }
      },
      async cancel(reason) {
        release();
        await reader.cancel(reason);
      },
    });
  }
}

type AlarmStore = { get(): number | null; set(at: number): void; delete(): void };

/**
 * An actor's SQLite file: its own tables, the key-value entries in `_cf_KV` (values
 * structured-cloned, as workerd stores them), opened on first use, so that an actor that only
 * sets alarms costs no file.
 */
class ActorFile {
  private db: DatabaseSync | undefined;
  private statements: ((sql: string) => StatementSync) | undefined;

  constructor(private readonly path: string) {}

  private open() {
    if (!this.db) {
      privateDir(join(this.path, ".."));
      this.db = openSqlite(this.path);
      this.db.exec(
        "CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID",
      );
      this.statements = statementCache(this.db);
    }
    return { db: this.db, sql: this.statements as (sql: string) => StatementSync };
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
    this.statements = undefined;
  }

  storage(alarm: AlarmStore): ObjectStorage {
    return {
      get: async <T>(key: string) => {
        const row = this.open().sql("SELECT value FROM _cf_KV WHERE key = ?").get(key) as
          | { value: Uint8Array }
          | undefined;
        return row ? (deserialize(row.value) as T) : undefined;
      },
      put: async (entries) => {
        const { db, sql } = this.open();
        // Several keys are one commit: all or none, one sync.
        inTransaction(db, () => {
          for (const [k, v] of Object.entries(entries)) {
            sql("INSERT OR REPLACE INTO _cf_KV (key, value) VALUES (?, ?)").run(k, serialize(v));
          }
        });
      },
      delete: async (keys) => {
        const { db, sql } = this.open();
        inTransaction(db, () => {
          for (const k of keys) sql("DELETE FROM _cf_KV WHERE key = ?").run(k);
        });
      },
      list: async <T>({ prefix }: { prefix: string }) => {
        // Keys from `prefix` up to the next string that no longer starts with it.
        const rows = this.open()
          .sql("SELECT key, value FROM _cf_KV WHERE key >= ? ORDER BY key")
          .all(prefix) as { key: string; value: Uint8Array }[];
        const found = new Map<string, T>();
        for (const row of rows) {
          if (!row.key.startsWith(prefix)) break;
          found.set(row.key, deserialize(row.value) as T);
        }
        return found;
      },
      getAlarm: async () => alarm.get(),
      setAlarm: async (at) => alarm.set(at),
      deleteAlarm: async () => alarm.delete(),
      // Every table, every key and the alarm: the file goes.
      deleteAll: async () => {
        this.close();
        for (const suffix of ["", "-wal", "-shm"]) rmSync(`${this.path}${suffix}`, { force: true });
        alarm.delete();
      },
    };
  }

  /** `exec(query, ...bindings)` as workerd's `storage.sql` answers it. */
  exec<T extends Record<string, SqlValue>>(query: string, bindings: SqlValue[]) {
    const { db, sql } = this.open();
    const body = query.trim().replace(/;\s*$/, "");
    let rows: T[] = [];
    let rowsWritten = 0;
    if (bindings.length === 0 && body.includes(";")) {
      // Several statements (a schema) run together and answer no rows.
      db.exec(query);
    } else {
      const statement = sql(body);
      const params = bindings.map(toSqlValue);
      if (statement.columns().length > 0) {
        rows = statement.all(...params).map((row) => plainRow(row) as T);
        if (!/^\s*(select|with|pragma|explain)/i.test(body)) {
          rowsWritten = Number((sql("SELECT changes() AS n").get() as { n: number }).n);
        }
      } else {
        rowsWritten = Number(statement.run(...params).changes);
      }
    }
    return {
      toArray: () => rows,
      one(): T {
        if (rows.length !== 1) throw new Error(`Expected exactly one result, got ${rows.length}`);
        return rows[0] as T;
      },
      rowsWritten,
    };
  }
}

function toSqlValue(value: SqlValue): SQLInputValue {
  return value instanceof ArrayBuffer ? new Uint8Array(value) : value;
}
