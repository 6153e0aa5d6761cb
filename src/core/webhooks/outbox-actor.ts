import type { Logger } from "../log";
import type { Tally } from "../metrics/tally";
import type { Clock, ObjectSql, ObjectStorage, SqlValue } from "../objects";
import type { TenantStore } from "../tenancy/store";
import {
  type DeliveryState,
  MAX_ENDPOINTS,
  REDELIVERIES_PER_HOUR,
  type Redelivery,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookEndpointWithSecret,
} from "./outbox";
import { endpointDisabledBody, type WebhookEvent } from "./payload";
import { retryDelayMs } from "./schedule";
import { newEndpointId, newMessageId, newWebhookSecret, signedHeaders } from "./signing";
import { AddressNotPublicError } from "./url";

/** What a tenant's outbox needs besides its storage, given by the composition root. */
export interface OutboxServices {
  /** Whether the tenant is enabled; bounded in time by the composition root. */
  tenants: Pick<TenantStore, "getTenant">;
  /** The retry schedule (WEBHOOK_RETRY_DELAYS_S). */
  retryDelaysS: readonly number[];
  /**
   * POSTs one delivery; where the runtime checks the addresses a name resolves to (Deno), it
   * refuses a private one with AddressNotPublicError.
   */
  deliver(url: string, request: RequestInit): Promise<Response>;
  /** Tells the job's watcher to watch it to its end (and enqueue its outcome then). */
  watchJob(jobId: string, self: string): Promise<void>;
  /** Attempts' outcomes, into the tenant's metrics. */
  recordTallies(counts: readonly { tenantId: string; tally: Tally }[]): Promise<void>;
  log(fields: Record<string, unknown>): Logger;
}

export interface OutboxPorts {
  sql: ObjectSql;
  /** Its alarm: the earliest due delivery. */
  alarm: Pick<ObjectStorage, "setAlarm" | "deleteAlarm">;
  name?: string;
  services: OutboxServices;
  now?: Clock;
}

const KEEP_DELIVERIES = 100;
const KEEP_FINISHED_MS = 3 * 24 * 60 * 60 * 1000;
/** Rotation: the old secret keeps signing beside the new one this long. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;
const DELIVERY_TIMEOUT_MS = 15_000;
/** Due deliveries sent by one alarm; the rest go at the next, at once. */
const BATCH = 25;
const USER_AGENT = "waveline-proxy-webhooks/1";
const REDELIVERY_WINDOW_MS = 60 * 60_000;
/** Due deliveries wait this long when D1 cannot say whether the tenant is enabled. */
const TENANT_UNKNOWN_RETRY_MS = 30_000;
/** Why a delivery of a disabled (or removed) tenant was not sent, in its delivery log. */
const TENANT_DISABLED = "tenant disabled: not sent";

interface EndpointRow extends Record<string, SqlValue> {
  id: string;
  url: string;
  events: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires: number | null;
  disabled: number;
  created_at: number;
}

interface DeliveryRow extends Record<string, SqlValue> {
  id: string;
  endpoint_id: string;
  event: string;
  job_id: string;
  payload: string;
  attempts: number;
  next_attempt_at: number | null;
  state: string;
  last_response_code: number | null;
  last_error: string | null;
  last_duration_ms: number | null;
  last_attempt_at: number | null;
  created_at: number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function endpointView(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events) as WebhookEvent[],
    disabled: row.disabled === 1,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

function deliveryView(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    event: row.event as WebhookEvent,
    // Other events keep their own key there (one delivery per endpoint and alert).
    jobId: row.event.startsWith("job.") ? row.job_id : null,
    state: row.state as DeliveryState,
    attempts: row.attempts,
    lastResponseCode: row.last_response_code,
    lastError: row.last_error,
    lastDurationMs: row.last_duration_ms,
    lastAttemptAt: iso(row.last_attempt_at),
    nextAttemptAt: row.state === "pending" ? iso(row.next_attempt_at) : null,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/**
 * One per tenant (named by tenant id): its webhook endpoints, their secrets, and the deliveries
 * still to make, in the actor's SQLite storage. The alarm is the earliest due delivery, so a
 * retry survives restarts and deploys; every attempt is recorded before it is made.
 */
export class WebhookOutboxActor {
  private readonly db: ObjectSql;
  private readonly alarmOf: Pick<ObjectStorage, "setAlarm" | "deleteAlarm">;
  private readonly services: OutboxServices;
  /** The object's name where the runtime knows it: the tenant, before any call has named it. */
  private readonly name: string | undefined;
  private readonly now: Clock;

  constructor({ sql, alarm, name, services, now = () => Date.now() }: OutboxPorts) {
    this.db = sql;
    this.alarmOf = alarm;
    this.name = name;
    this.services = services;
    this.now = now;
    sql.exec(
      "CREATE TABLE IF NOT EXISTS endpoints (id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL, secret TEXT NOT NULL, previous_secret TEXT, previous_secret_expires INTEGER, disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);" +
        "CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, endpoint_id TEXT NOT NULL, event TEXT NOT NULL, job_id TEXT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER, state TEXT NOT NULL, last_response_code INTEGER, last_error TEXT, last_duration_ms INTEGER, last_attempt_at INTEGER, created_at INTEGER NOT NULL, UNIQUE (endpoint_id, job_id, event));" +
        "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at);" +
        "CREATE TABLE IF NOT EXISTS redeliveries (endpoint_id TEXT NOT NULL, at INTEGER NOT NULL);" +
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    );
  }

  /** One statement on this actor's SQLite. */
  private sql<T extends Record<string, SqlValue>>(query: string, ...bindings: SqlValue[]) {
    return this.db.exec<T>(query, ...bindings);
  }

  private endpointRow(id: string): EndpointRow | undefined {
    return this.sql<EndpointRow>("SELECT * FROM endpoints WHERE id = ?", id).toArray()[0];
  }

  /** A new endpoint and its secret, or null when the tenant has `MAX_ENDPOINTS` already. */
  createEndpoint(url: string, events: WebhookEvent[]): WebhookEndpointWithSecret | null {
    const count = this.sql<{ n: number }>("SELECT COUNT(*) AS n FROM endpoints").one().n;
    if (count >= MAX_ENDPOINTS) return null;
    const row: EndpointRow = {
      id: newEndpointId(),
      url,
      events: JSON.stringify([...new Set(events)]),
      secret: newWebhookSecret(),
      previous_secret: null,
      previous_secret_expires: null,
      disabled: 0,
      created_at: this.now(),
    };
    this.sql(
      "INSERT INTO endpoints (id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?)",
      row.id,
      row.url,
      row.events,
      row.secret,
      row.created_at,
    );
    return { ...endpointView(row), secret: row.secret };
  }

  listEndpoints(): WebhookEndpoint[] {
    return this.sql<EndpointRow>("SELECT * FROM endpoints ORDER BY created_at, id")
      .toArray()
      .map(endpointView);
  }

  getEndpoint(id: string): WebhookEndpoint | null {
    const row = this.endpointRow(id);
    return row ? endpointView(row) : null;
  }

  deleteEndpoint(id: string): boolean {
    if (!this.endpointRow(id)) return false;
    this.sql("DELETE FROM deliveries WHERE endpoint_id = ?", id);
    this.sql("DELETE FROM redeliveries WHERE endpoint_id = ?", id);
    this.sql("DELETE FROM endpoints WHERE id = ?", id);
    return true;
  }

  /** A new secret; the current one keeps signing beside it for `ROTATION_OVERLAP_MS`. */
  rotateSecret(id: string): { secret: string; previousSecretExpiresAt: string } | null {
    const row = this.endpointRow(id);
    if (!row) return null;
    const secret = newWebhookSecret();
    const expires = this.now() + ROTATION_OVERLAP_MS;
    this.sql(
      "UPDATE endpoints SET secret = ?, previous_secret = ?, previous_secret_expires = ? WHERE id = ?",
      secret,
      row.secret,
      expires,
      id,
    );
    return { secret, previousSecretExpiresAt: new Date(expires).toISOString() };
  }

  /** The endpoint's recent deliveries, newest first; null for an endpoint that does not exist. */
  deliveries(endpointId: string): WebhookDelivery[] | null {
    if (!this.endpointRow(endpointId)) return null;
    return this.sql<DeliveryRow>(
      "SELECT * FROM deliveries WHERE endpoint_id = ? ORDER BY created_at DESC, id LIMIT ?",
      endpointId,
      KEEP_DELIVERIES,
    )
      .toArray()
      .map(deliveryView);
  }

  /**
   * Sends a delivery again now, with the same `webhook-id`: one attempt more, counted with the
   * earlier ones, so a delivery whose retries were spent is `failed` again if it fails. At most
   * `REDELIVERIES_PER_HOUR` per endpoint.
   */
  async redeliver(endpointId: string, deliveryId: string): Promise<Redelivery> {
    const endpoint = this.endpointRow(endpointId);
    const exists = this.sql(
      "SELECT 1 FROM deliveries WHERE id = ? AND endpoint_id = ?",
      deliveryId,
      endpointId,
    ).toArray().length;
    if (!endpoint || !exists) return { kind: "not-found" };
    const now = this.now();
    this.sql("DELETE FROM redeliveries WHERE at <= ?", now - REDELIVERY_WINDOW_MS);
    const recent = this.sql<{ n: number; oldest: number | null }>(
      "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM redeliveries WHERE endpoint_id = ?",
      endpointId,
    ).one();
    if (recent.n >= REDELIVERIES_PER_HOUR) {
      const freeAt = (recent.oldest ?? now) + REDELIVERY_WINDOW_MS;
      return { kind: "limited", retryAfterS: Math.max(1, Math.ceil((freeAt - now) / 1000)) };
    }
    this.sql("INSERT INTO redeliveries (endpoint_id, at) VALUES (?, ?)", endpointId, now);
    const updated = this.sql<DeliveryRow>(
      "UPDATE deliveries SET state = 'pending', next_attempt_at = ? WHERE id = ? RETURNING *",
      now,
      deliveryId,
    ).one();
    // A disabled endpoint asked for a redelivery is one its owner has fixed.
    this.sql("UPDATE endpoints SET disabled = 0 WHERE id = ?", endpointId);
    await this.scheduleAlarm();
    return { kind: "redelivered", delivery: deliveryView(updated) };
  }

  /**
   * Called when a job is created or given to this tenant: when the tenant has an enabled endpoint,
   * the job's watcher is told to watch it to the end (whether or not anyone reads it) and to
   * enqueue its outcome in its owner's outbox then.
   */
  async watchJob(jobId: string, self: string): Promise<boolean> {
    const wanted = this.sql("SELECT 1 FROM endpoints WHERE disabled = 0 LIMIT 1").toArray().length;
    if (!wanted) return false;
    await this.services.watchJob(jobId, self);
    return true;
  }

  /**
   * One delivery per enabled endpoint subscribed to `event`; an event is queued once per `key`
   * (a job's id for its events, the alert's for a budget's). `tenantId` is this outbox's tenant,
   * the job's owner when the event happened.
   */
  async enqueue(
    tenantId: string,
    event: WebhookEvent,
    key: string,
    payload: string,
  ): Promise<number> {
    this.rememberTenant(tenantId);
    const now = this.now();
    let queued = 0;
    for (const endpoint of this.listEndpoints()) {
      if (endpoint.disabled || !endpoint.events.includes(event)) continue;
      const written = this.sql(
        "INSERT OR IGNORE INTO deliveries (id, endpoint_id, event, job_id, payload, next_attempt_at, state, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
        newMessageId(),
        endpoint.id,
        event,
        key,
        payload,
        now,
        now,
      ).rowsWritten;
      if (written > 0) queued++;
      this.prune(endpoint.id, now);
    }
    await this.scheduleAlarm();
    return queued;
  }

  async alarm(): Promise<void> {
    const enabled = await this.tenantEnabled();
    if (enabled === false) {
      // Nothing goes out for a disabled tenant, nor later: its deliveries end here, saying why.
      this.sql(
        "UPDATE deliveries SET state = 'cancelled', next_attempt_at = NULL, last_error = ? WHERE state = 'pending'",
        TENANT_DISABLED,
      );
    } else if (enabled === undefined) {
      this.sql(
        "UPDATE deliveries SET next_attempt_at = ? WHERE state = 'pending' AND next_attempt_at <= ?",
        this.now() + TENANT_UNKNOWN_RETRY_MS,
        this.now(),
      );
    } else {
      const due = this.sql<DeliveryRow>(
        "SELECT * FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
        this.now(),
        BATCH,
      ).toArray();
      const states = await Promise.all(due.map((delivery) => this.attempt(delivery)));
      await this.countDeliveries(states);
    }
    await this.scheduleAlarm();
  }

  /** The tenant whose outbox this is: learnt from the calls that name it. */
  private rememberTenant(tenantId: string): void {
    this.sql("INSERT OR IGNORE INTO meta (key, value) VALUES ('tenant_id', ?)", tenantId);
  }

  /**
   * Whether the tenant may be sent anything now, asked of D1 once per alarm (never memoised: a
   * disabled tenant stops at its next attempt); undefined when D1 cannot say.
   */
  private async tenantEnabled(): Promise<boolean | undefined> {
    const stored = this.sql<{ value: string }>(
      "SELECT value FROM meta WHERE key = 'tenant_id'",
    ).toArray()[0];
    const tenantId = stored?.value ?? this.name;
    if (tenantId === undefined) return false;
    try {
      const tenant = await this.services.tenants.getTenant(tenantId);
      return tenant !== null && !tenant.disabled;
    } catch (err) {
      this.services
        .log({ outbox: tenantId })
        .error("webhook deliveries wait: the tenant could not be read", {
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        });
      return undefined;
    }
  }

  /** Each attempt's outcome, into the tenant's metrics (`pending` after an attempt: retrying). */
  private async countDeliveries(states: (DeliveryState | undefined)[]): Promise<void> {
    const tally: Record<string, number> = {};
    for (const state of states) {
      const counter = state === "pending" ? "webhooks:retrying" : `webhooks:${state}`;
      if (state !== undefined && state !== "cancelled") tally[counter] = (tally[counter] ?? 0) + 1;
    }
    const tenantId = this.sql<{ value: string }>(
      "SELECT value FROM meta WHERE key = 'tenant_id'",
    ).toArray()[0]?.value;
    if (tenantId === undefined || Object.keys(tally).length === 0) return;
    await this.services.recordTallies([{ tenantId, tally }]).catch(() => {});
  }

  private async attempt(delivery: DeliveryRow): Promise<DeliveryState | undefined> {
    const endpoint = this.endpointRow(delivery.endpoint_id);
    if (!endpoint || endpoint.disabled) {
      this.sql("UPDATE deliveries SET state = 'cancelled' WHERE id = ?", delivery.id);
      return;
    }
    const delaysS = this.services.retryDelaysS;
    const attempts = delivery.attempts + 1;
    const started = this.now();
    // Recorded before the request: if this object dies mid-attempt, the alarm retries it later.
    const fallbackAt = started + (retryDelayMs(attempts, delaysS) ?? 0);
    this.sql(
      "UPDATE deliveries SET attempts = ?, next_attempt_at = ?, last_attempt_at = ? WHERE id = ?",
      attempts,
      fallbackAt,
      started,
      delivery.id,
    );

    const secrets = [endpoint.secret];
    if (endpoint.previous_secret && (endpoint.previous_secret_expires ?? 0) > started) {
      secrets.push(endpoint.previous_secret);
    }
    const headers = await signedHeaders(
      secrets,
      delivery.id,
      Math.floor(started / 1000),
      delivery.payload,
    );
    let code: number | null = null;
    let error: string | null = null;
    let retryAfter: string | null = null;
    try {
      const request: RequestInit = {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/json", "User-Agent": USER_AGENT },
        body: delivery.payload,
        redirect: "manual",
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      };
      const response = await this.services.deliver(endpoint.url, request);
      code = response.status;
      retryAfter = response.headers.get("Retry-After");
      await response.body?.cancel();
    } catch (err) {
      // Nothing more precise: the log must not tell a closed port from a name without address.
      error =
        err instanceof AddressNotPublicError
          ? err.message
          : err instanceof Error && err.name === "TimeoutError"
            ? "timeout"
            : "network error";
    }
    const durationMs = this.now() - started;

    let state: DeliveryState = "pending";
    let nextAt: number | null = null;
    if (code !== null && code >= 200 && code < 300) {
      state = "delivered";
    } else if (code === 410) {
      // Gone: the receiver asks for no more. Its other pending deliveries are cancelled too.
      state = "failed";
      error = "410: endpoint disabled";
      this.sql("UPDATE endpoints SET disabled = 1 WHERE id = ?", endpoint.id);
      this.sql(
        "UPDATE deliveries SET state = 'cancelled' WHERE endpoint_id = ? AND state = 'pending' AND id != ?",
        endpoint.id,
        delivery.id,
      );
      await this.announceDisabled(endpoint, "the receiver answered 410 Gone");
    } else {
      error ??= `answered ${code}`;
      const delay = retryDelayMs(attempts, delaysS, retryAfter);
      if (delay === undefined) state = "failed";
      else nextAt = this.now() + delay;
    }
    this.sql(
      "UPDATE deliveries SET state = ?, next_attempt_at = ?, last_response_code = ?, last_error = ?, last_duration_ms = ? WHERE id = ?",
      state,
      nextAt,
      code,
      state === "delivered" ? null : error,
      durationMs,
      delivery.id,
    );
    return state;
  }

  /** `webhook.disabled` to the tenant's other enabled endpoints that subscribed to it. */
  private async announceDisabled(endpoint: EndpointRow, reason: string): Promise<void> {
    const tenantId = this.sql<{ value: string }>(
      "SELECT value FROM meta WHERE key = 'tenant_id'",
    ).toArray()[0]?.value;
    if (tenantId === undefined) return;
    const at = new Date();
    const key = `endpoint:${endpoint.id}:${at.getTime()}`;
    await this.enqueue(
      tenantId,
      "webhook.disabled",
      key,
      endpointDisabledBody(endpoint, reason, at),
    );
  }

  /** Finished deliveries beyond the newest `KEEP_DELIVERIES` of an endpoint, or too old, go. */
  private prune(endpointId: string, now: number): void {
    this.sql(
      "DELETE FROM deliveries WHERE endpoint_id = ? AND state != 'pending' AND (created_at < ? OR id NOT IN (SELECT id FROM deliveries WHERE endpoint_id = ? ORDER BY created_at DESC LIMIT ?))",
      endpointId,
      now - KEEP_FINISHED_MS,
      endpointId,
      KEEP_DELIVERIES,
    );
  }

  private async scheduleAlarm(): Promise<void> {
    const next = this.sql<{ at: number | null }>(
      "SELECT MIN(next_attempt_at) AS at FROM deliveries WHERE state = 'pending'",
    ).one().at;
    if (next === null) await this.alarmOf.deleteAlarm();
    else await this.alarmOf.setAlarm(Math.max(next, this.now()));
  }
}
