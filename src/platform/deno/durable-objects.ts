import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { deserialize, serialize } from "node:v8";
import { inTransaction, openSqlite, plainRow, privateDir, statementCache } from "./sqlite.ts";

export interface DurableObjectId {
  readonly name?: string;
  toString(): string;
  equals(other: DurableObjectId): boolean;
}

/** What a Durable Object class of the Worker looks like from here. */
export type DurableObjectClass = new (ctx: DurableObjectState, env: unknown) => object;

export interface DurableObjectState {
  readonly id: DurableObjectId;
  readonly storage: ObjectStorage;
  waitUntil(promise: Promise<unknown>): void;
  blockConcurrencyWhile<T>(callback: () => Promise<T>): Promise<T>;
}

export interface DurableObjectNamespace {
  idFromName(name: string): DurableObjectId;
  idFromString(id: string): DurableObjectId;
  newUniqueId(): DurableObjectId;
  get(id: DurableObjectId): DurableObjectStub;
  getByName(name: string): DurableObjectStub;
}

/** A stub: `fetch`, and each RPC method of the class as an async function. */
export type DurableObjectStub = {
  readonly id: DurableObjectId;
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
} & Record<string, (...args: unknown[]) => Promise<unknown>>;

interface HostOptions {
  /** Objects' storage lives under `<dir>/<class>/<id>.sqlite`; alarms in `<dir>/index.sqlite`. */
  dir: string;
  env: object;
  classes: Record<string, DurableObjectClass>;
  /** Work that must finish before the process exits (alarms running, `ctx.waitUntil`). */
  waitUntil(promise: Promise<unknown>): void;
  /** An object this long without a call, an open stream or pending work is evicted. */
  idleMs?: number;
}

/** workerd evicts an idle object after some tens of seconds; its storage brings it back. */
const IDLE_EVICTION_MS = 30_000;

/** workerd retries a failing alarm with exponential back-off, six times, from 2 s. */
const ALARM_RETRIES = 6;
const ALARM_RETRY_BASE_MS = 2_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

class ObjectId implements DurableObjectId {
  constructor(
    private readonly hex: string,
    readonly name?: string,
  ) {}
  toString() {
    return this.hex;
  }
  equals(other: DurableObjectId) {
    return other.toString() === this.hex;
  }
}

/**
 * Durable Objects in one process, as workerd runs them on one machine: one live instance per
 * class and id, events delivered through an input gate (no new call starts while another awaits
 * its storage, so the Worker's "each call runs alone" reasoning holds), arguments and results
 * structured-cloned, storage in a SQLite file of its own, alarms as timers stored on disk and
 * armed again on start. An object idle for `idleMs` (no event running, no stream open, no
 * `waitUntil` pending) is evicted as workerd evicts it: its instance and open file are dropped,
 * and the next event builds it again from its storage. Only an armed alarm's timer stays.
 */
export class DurableObjectHost {
  private readonly index: DatabaseSync;
  private readonly objects = new Map<string, HostedObject>();
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
  }

  namespace(className: string): DurableObjectNamespace {
    if (!this.options.classes[className]) throw new Error(`no Durable Object class ${className}`);
    const idOf = (name: string) =>
      new ObjectId(createHash("sha256").update(`${className}\0${name}`).digest("hex"), name);
    const get = (id: DurableObjectId) => this.stub(className, id);
    return {
      idFromName: idOf,
      idFromString: (hex) => {
        if (!/^[0-9a-f]{64}$/.test(hex)) throw new TypeError("Invalid Durable Object ID");
        return new ObjectId(hex);
      },
      newUniqueId: () =>
        new ObjectId(createHash("sha256").update(crypto.randomUUID()).digest("hex")),
      get,
      getByName: (name) => get(idOf(name)),
    };
  }

  /** Arms the alarms stored by an earlier run: their objects come back to life when they fire. */
  rearmAlarms(): number {
    const rows = this.index.prepare("SELECT class, id, name, scheduled_at FROM alarms").all() as {
      class: string;
      id: string;
      name: string | null;
      scheduled_at: number;
    }[];
    for (const row of rows) {
      if (!this.options.classes[row.class]) continue;
      this.object(row.class, new ObjectId(row.id, row.name ?? undefined)).armAlarm(
        row.scheduled_at,
      );
    }
    return rows.length;
  }

  /** Stops the alarm timers and closes every object's storage. */
  close(): void {
    this.closed = true;
    for (const object of this.objects.values()) object.close();
    this.index.close();
  }

  get isClosed() {
    return this.closed;
  }

  alarmStatements() {
    const sql = statementCache(this.index);
    return {
      get: (className: string, id: string) =>
        (
          sql("SELECT scheduled_at FROM alarms WHERE class = ? AND id = ?").get(className, id) as
            | { scheduled_at: number }
            | undefined
        )?.scheduled_at ?? null,
      set: (className: string, id: DurableObjectId, at: number) =>
        sql(
          "INSERT OR REPLACE INTO alarms (class, id, name, scheduled_at) VALUES (?, ?, ?, ?)",
        ).run(className, id.toString(), id.name ?? null, at),
      delete: (className: string, id: string, onlyAt?: number) =>
        onlyAt === undefined
          ? sql("DELETE FROM alarms WHERE class = ? AND id = ?").run(className, id)
          : sql("DELETE FROM alarms WHERE class = ? AND id = ? AND scheduled_at = ?").run(
              className,
              id,
              onlyAt,
            ),
    };
  }

  private object(className: string, id: DurableObjectId): HostedObject {
    const key = `${className}/${id.toString()}`;
    let object = this.objects.get(key);
    if (!object) {
      object = new HostedObject(this, className, id, () => this.objects.delete(key));
      this.objects.set(key, object);
    }
    return object;
  }

  /** A stub finds its object at each call: the one it reached last may have been evicted since. */
  private stub(className: string, id: DurableObjectId): DurableObjectStub {
    const fetch = (input: RequestInfo | URL, init?: RequestInit) =>
      this.object(className, id).fetch(new Request(input, init));
    return new Proxy({} as DurableObjectStub, {
      get: (_target, prop) => {
        if (prop === "id") return id;
        if (prop === "name") return id.name;
        if (prop === "fetch") return fetch;
        // Not a thenable: awaiting a stub must not call a method named "then".
        if (typeof prop === "symbol" || prop === "then") return undefined;
        return (...args: unknown[]) => this.object(className, id).call(prop, args);
      },
    });
  }
}

class HostedObject {
  private instance: Record<string, unknown> | undefined;
  /** While any of these is pending, no new event is delivered (workerd's input gate). */
  private readonly gates = new Set<Promise<unknown>>();
  private storageGate: Promise<void> | undefined;
  private readonly storage: ObjectStorage;
  private readonly alarms: ReturnType<DurableObjectHost["alarmStatements"]>;
  private alarmTimer: ReturnType<typeof setTimeout> | undefined;
  private firingAt: number | undefined;
  private alarmRetries = 0;
  /** Events running or queued, open streams and `waitUntil` work: while any, no eviction. */
  private busy = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly host: DurableObjectHost,
    private readonly className: string,
    readonly id: DurableObjectId,
    private readonly forget: () => void,
  ) {
    this.alarms = host.alarmStatements();
    this.storage = new ObjectStorage(
      join(host.options.dir, className, `${id.toString()}.sqlite`),
      () => this.closeGateForStorage(),
      {
        get: () => {
          const at = this.alarms.get(this.className, this.id.toString());
          // The alarm being handled is no longer pending, as in workerd.
          return at === this.firingAt ? null : at;
        },
        set: (at) => {
          this.alarms.set(this.className, this.id, at);
          if (this.firingAt === undefined) this.armAlarm(at);
        },
        delete: () => {
          this.alarms.delete(this.className, this.id.toString());
          clearTimeout(this.alarmTimer);
          this.alarmTimer = undefined;
        },
      },
    );
    this.settle();
  }

  close(): void {
    clearTimeout(this.alarmTimer);
    clearTimeout(this.idleTimer);
    this.storage.close();
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
    if (this.busy > 0 || this.host.isClosed) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.evict(), this.host.options.idleMs ?? IDLE_EVICTION_MS);
    Deno.unrefTimer(this.idleTimer);
  }

  private evict(): void {
    if (this.busy > 0 || this.gates.size > 0 || this.host.isClosed) return;
    this.instance = undefined;
    this.storage.close();
    // An armed alarm keeps this small shell (its timer) to wake the object; nothing else does.
    if (this.alarmTimer === undefined) this.forget();
  }

  armAlarm(at: number): void {
    clearTimeout(this.alarmTimer);
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()));
    this.alarmTimer = setTimeout(() => {
      if (Date.now() < at) return this.armAlarm(at);
      this.alarmTimer = undefined;
      this.host.options.waitUntil(this.hold(this.fireAlarm(at)));
    }, delay);
  }

  private async fireAlarm(at: number): Promise<void> {
    if (this.host.isClosed || this.firingAt !== undefined) return;
    this.firingAt = at;
    const id = this.id.toString();
    try {
      await this.deliver(() => {
        const alarm = this.live().alarm as ((info: object) => unknown) | undefined;
        return alarm?.call(this.instance, {
          retryCount: this.alarmRetries,
          isRetry: this.alarmRetries > 0,
        });
      });
      this.alarmRetries = 0;
      if (!this.host.isClosed) this.alarms.delete(this.className, id, at);
    } catch (err) {
      console.log(
        JSON.stringify({
          level: "error",
          msg: "Durable Object alarm failed",
          class: this.className,
          id,
          retry: this.alarmRetries,
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        }),
      );
      if (!this.host.isClosed && this.alarms.get(this.className, id) === at) {
        if (this.alarmRetries < ALARM_RETRIES) {
          this.alarms.set(
            this.className,
            this.id,
            Date.now() + ALARM_RETRY_BASE_MS * 2 ** this.alarmRetries,
          );
          this.alarmRetries++;
        } else {
          this.alarms.delete(this.className, id, at);
          this.alarmRetries = 0;
        }
      }
    } finally {
      this.firingAt = undefined;
      if (!this.host.isClosed) {
        const next = this.alarms.get(this.className, id);
        if (next !== null) this.armAlarm(next);
      }
    }
  }

  /** The instance, built on its first event, as workerd builds it. */
  private live(): Record<string, unknown> {
    if (!this.instance) {
      const Class = this.host.options.classes[this.className] as DurableObjectClass;
      const state: DurableObjectState = {
        id: this.id,
        storage: this.storage,
        waitUntil: (promise) => this.host.options.waitUntil(this.hold(promise)),
        blockConcurrencyWhile: (callback) => {
          const running = this.hold(callback());
          const gate = running.catch(() => {});
          this.gates.add(gate);
          void gate.then(() => this.gates.delete(gate));
          return running;
        },
      };
      this.instance = new Class(state, this.host.options.env) as Record<string, unknown>;
    }
    return this.instance;
  }

  /**
   * Each async storage call closes the gate until the events already queued have run: the
   * caller's continuation runs before any other call starts, as with workerd's input gates.
   */
  private closeGateForStorage(): void {
    if (this.storageGate) return;
    const gate = new Promise<void>((resolve) =>
      setTimeout(() => {
        this.storageGate = undefined;
        this.gates.delete(gate);
        resolve();
      }, 0),
    );
    this.storageGate = gate;
    this.gates.add(gate);
  }

  /** Runs an event when the gate is open: at once if it is (no await, so no one slips in). */
  private async deliver<T>(event: () => T | Promise<T>): Promise<T> {
    if (this.host.isClosed) throw new Error("Durable Object host is closed");
    while (this.gates.size > 0) await Promise.all(this.gates);
    return await event();
  }

  call(method: string, args: unknown[]): Promise<unknown> {
    const cloned = structuredClone(args);
    return this.hold(
      this.deliver(async () => {
        const instance = this.live();
        const fn = instance[method];
        if (typeof fn !== "function") {
          throw new TypeError(`The RPC receiver does not implement the method "${method}".`);
        }
        try {
          return structuredClone(await fn.apply(instance, cloned));
        } catch (err) {
          throw rpcError(err);
        }
      }),
    );
  }

  /** `fetch`: the answer's body, while it is open, keeps the object as an open stream does. */
  fetch(request: Request): Promise<Response> {
    return this.hold(
      this.deliver(async () => {
        const instance = this.live();
        const handler = instance.fetch as ((request: Request) => Promise<Response>) | undefined;
        if (!handler) throw new TypeError("Handler does not export a fetch() function.");
        const response = await handler.call(instance, request);
        if (!response.body) return response;
        return new Response(this.heldWhileOpen(response.body), response);
      }),
    );
  }

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

/** An error as it arrives through RPC: its name and message, not its class or extra fields. */
function rpcError(err: unknown): unknown {
  try {
    return structuredClone(err);
  } catch {
    return new Error(err instanceof Error ? err.message : String(err));
  }
}

type AlarmStore = { get(): number | null; set(at: number): void; delete(): void };

/**
 * A SQLite-backed object's storage: `sql` for its own tables, the key-value API in `_cf_KV`
 * (values structured-cloned, as workerd stores them), the alarm. The file is opened on first use,
 * so an object that only sets alarms (a job watcher) costs no file.
 */
export class ObjectStorage {
  private db: DatabaseSync | undefined;
  private statements: ((sql: string) => StatementSync) | undefined;
  readonly sql: SqlStorage;

  constructor(
    private readonly path: string,
    private readonly touched: () => void,
    private readonly alarm: AlarmStore,
  ) {
    this.sql = new SqlStorage(() => this.open());
  }

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

  async get<T>(key: string | string[]): Promise<T | undefined | Map<string, T>> {
    this.touched();
    const { sql } = this.open();
    const one = (k: string) => {
      const row = sql("SELECT value FROM _cf_KV WHERE key = ?").get(k) as
        | { value: Uint8Array }
        | undefined;
      return row ? (deserialize(row.value) as T) : undefined;
    };
    if (!Array.isArray(key)) return one(key);
    const found = new Map<string, T>();
    for (const k of key) {
      const value = one(k);
      if (value !== undefined) found.set(k, value);
    }
    return found;
  }

  async put(key: string | Record<string, unknown>, value?: unknown): Promise<void> {
    this.touched();
    const { db, sql } = this.open();
    const entries = typeof key === "string" ? [[key, value] as const] : Object.entries(key);
    // Several keys are one commit, as workerd writes them: all or none, one sync.
    inTransaction(db, () => {
      for (const [k, v] of entries) {
        sql("INSERT OR REPLACE INTO _cf_KV (key, value) VALUES (?, ?)").run(k, serialize(v));
      }
    });
  }

  async delete(key: string | string[]): Promise<boolean | number> {
    this.touched();
    const { db, sql } = this.open();
    const keys = Array.isArray(key) ? key : [key];
    let deleted = 0;
    inTransaction(db, () => {
      for (const k of keys) {
        deleted += Number(sql("DELETE FROM _cf_KV WHERE key = ?").run(k).changes);
      }
    });
    return Array.isArray(key) ? deleted : deleted > 0;
  }

  async list<T>(options: { prefix?: string } = {}): Promise<Map<string, T>> {
    this.touched();
    const { sql } = this.open();
    const rows = sql("SELECT key, value FROM _cf_KV ORDER BY key").all() as {
      key: string;
      value: Uint8Array;
    }[];
    return new Map(
      rows
        .filter((row) => row.key.startsWith(options.prefix ?? ""))
        .map((row) => [row.key, deserialize(row.value) as T]),
    );
  }

  async getAlarm(): Promise<number | null> {
    this.touched();
    return this.alarm.get();
  }

  async setAlarm(scheduledTime: number | Date): Promise<void> {
    this.touched();
    this.alarm.set(Number(scheduledTime));
  }

  async deleteAlarm(): Promise<void> {
    this.touched();
    this.alarm.delete();
  }

  /** Every table, every key and the alarm: the object's file goes. */
  async deleteAll(): Promise<void> {
    this.touched();
    this.close();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${this.path}${suffix}`, { force: true });
    this.alarm.delete();
  }
}

/** `ctx.storage.sql`: `exec(query, ...bindings)` answering a cursor, as workerd's does. */
class SqlStorage {
  constructor(
    private readonly open: () => { db: DatabaseSync; sql: (sql: string) => StatementSync },
  ) {}

  exec<T extends Record<string, unknown>>(query: string, ...bindings: unknown[]): SqlCursor<T> {
    const { db, sql } = this.open();
    const body = query.trim().replace(/;\s*$/, "");
    // Several statements (a schema) run together and answer no rows.
    if (bindings.length === 0 && body.includes(";")) {
      db.exec(query);
      return new SqlCursor<T>([], [], 0);
    }
    const statement = sql(body);
    const params = bindings.map(toSqlValue);
    const columns = statement.columns().map((column) => column.name);
    if (columns.length > 0) {
      const rows = statement.all(...params).map((row) => plainRow(row) as T);
      const written = Number((sql("SELECT changes() AS n").get() as { n: number }).n);
      const isRead = /^\s*(select|with|pragma|explain)/i.test(body);
      return new SqlCursor<T>(rows, columns, isRead ? 0 : written);
    }
    const outcome = statement.run(...params);
    return new SqlCursor<T>([], [], Number(outcome.changes));
  }

  get databaseSize(): number {
    const { db } = this.open();
    const row = db
      .prepare("SELECT page_count * page_size AS size FROM pragma_page_count(), pragma_page_size()")
      .get() as { size: number };
    return row.size;
  }
}

function toSqlValue(value: unknown): SQLInputValue {
  if (value === null || typeof value === "string" || typeof value === "number") return value;
  if (typeof value === "bigint") return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  throw new TypeError(`Unsupported type of SQL binding: ${typeof value}`);
}

class SqlCursor<T> implements IterableIterator<T> {
  private position = 0;
  readonly rowsRead: number;

  constructor(
    private readonly rows: T[],
    readonly columnNames: string[],
    readonly rowsWritten: number,
  ) {
    this.rowsRead = rows.length;
  }

  next(): IteratorResult<T> {
    const row = this.rows[this.position++];
    return row === undefined ? { done: true, value: undefined } : { done: false, value: row };
  }

  [Symbol.iterator]() {
    return this;
  }

  toArray(): T[] {
    const rest = this.rows.slice(this.position);
    this.position = this.rows.length;
    return rest;
  }

  one(): T {
    const rest = this.toArray();
    if (rest.length === 0)
      throw new Error("Expected exactly one result from SQL query, but got no results.");
    if (rest.length > 1)
      throw new Error("Expected exactly one result from SQL query, but got multiple results.");
    return rest[0] as T;
  }

  *raw(): IterableIterator<unknown[]> {
    for (const row of this.toArray()) yield Object.values(row as Record<string, unknown>);
  }
}
