import {
  AUDIT_PRUNE_BATCH,
  type AuditCursor,
  type AuditEntry,
  type AuditLog,
  type AuditNote,
  redact,
} from "../../core/audit/log";
import { ALL_SCOPES } from "../../core/tenancy/access";
import type { KeyScope } from "../../core/tenancy/keys";
import type {
  ApiKeyRecord,
  BilledPages,
  Budget,
  Found,
  JobFilter,
  JobStore,
  OwnedJob,
  RateLimits,
  Tenant,
  TenantStore,
  Usage,
} from "../../core/tenancy/store";
import { BUDGET_ALERT_PERCENTS, type BudgetAlert } from "../../core/webhooks/payload";
import type { JobStatus } from "../../waveline/schema";
import type { SqlDatabase, SqlResult, SqlStatement } from "./database";

/** Prefixed random ids (`tnt_…`, `key_…`): readable in logs, unguessable. */
export function newId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${prefix}_${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

interface TenantRow {
  id: string;
  name: string;
  disabled: number;
  reads_per_minute: number | null;
  creates_per_minute: number | null;
  end_user_reads_per_minute: number | null;
  end_user_creates_per_minute: number | null;
  end_user_streams: number | null;
  pages_per_month: number | null;
  end_user_pages_per_month: number | null;
  tokens_not_before: string | null;
  created_at: string;
  updated_at: string;
  origins: string | null;
}

interface KeyRow {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
  expires_at: string | null;
  scopes: string | null;
  last_used_at: string | null;
}

interface JobRow {
  id: string;
  tenant_id: string;
  subject: string | null;
  type: string;
  file_name: string;
  created_at: string;
  status: JobStatus;
  pages: number;
}

// Origins ride along as a JSON array so one query answers a whole tenant.
const TENANT_ORIGINS =
  "(SELECT json_group_array(origin) FROM tenant_origins o WHERE o.tenant_id = t.id)";
const TENANT_SELECT = `
  SELECT t.id, t.name, t.disabled, t.reads_per_minute, t.creates_per_minute,
    t.end_user_reads_per_minute, t.end_user_creates_per_minute, t.end_user_streams,
    t.pages_per_month, t.end_user_pages_per_month, t.tokens_not_before, t.created_at, t.updated_at,
    ${TENANT_ORIGINS} AS origins
  FROM tenants t`;

// The key's lifecycle rides along with its tenant: expiry and scopes are checked at use.
const KEY_SELECT = `
  SELECT t.*, k.id AS key_id, k.expires_at AS key_expires_at, k.scopes AS key_scopes,
    k.last_used_at AS key_last_used_at, ${TENANT_ORIGINS} AS origins
  FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
  WHERE k.hash = ? AND k.revoked_at IS NULL`;
const TOKEN_SELECT = `
  SELECT t.*, ${TENANT_ORIGINS} AS origins, k.id IS NOT NULL AS key_live,
    k.expires_at AS key_expires_at
  FROM tenants t
  LEFT JOIN api_keys k ON k.id = ? AND k.tenant_id = t.id AND k.revoked_at IS NULL
  WHERE t.id = ?`;
const JOB_SELECT = "SELECT * FROM jobs WHERE id = ?";
const TAG_SECRET_SELECT = "SELECT value FROM settings WHERE name = 'api_key_tag_secret'";
// Served by a partial index: reads the keys made before tags, never the whole table.
const LEGACY_KEYS_SELECT = "SELECT hash FROM api_keys WHERE tagged = 0 AND revoked_at IS NULL";

function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    allowedOrigins: row.origins ? (JSON.parse(row.origins) as string[]).sort() : [],
    disabled: row.disabled === 1,
    rateLimits: {
      readsPerMinute: row.reads_per_minute,
      createsPerMinute: row.creates_per_minute,
      endUserReadsPerMinute: row.end_user_reads_per_minute,
      endUserCreatesPerMinute: row.end_user_creates_per_minute,
      endUserStreams: row.end_user_streams,
    },
    budget: {
      pagesPerMonth: row.pages_per_month,
      endUserPagesPerMonth: row.end_user_pages_per_month,
    },
    tokensNotBefore: row.tokens_not_before,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** NULL: a key made before scopes, which may do everything. */
function scopesOf(column: string | null): KeyScope[] {
  return column === null ? [...ALL_SCOPES] : (JSON.parse(column) as KeyScope[]);
}

function toKey(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    expiresAt: row.expires_at,
    scopes: scopesOf(row.scopes),
    lastUsedAt: row.last_used_at,
  };
}

const DAY_MS = 86_400_000;

/**
 * The statements that write an audit entry, to send in the batch of the change itself; with
 * `onlyIf` (SQL and its parameters) the entry is written only if the change happened. Each
 * entry also removes a few entries past the retention: the log's cost stays bounded.
 */
function auditStatements(
  db: SqlDatabase,
  entry: AuditEntry,
  retentionDays: number,
  onlyIf?: { sql: string; params: unknown[] },
): SqlStatement[] {
  const cutoff = new Date(Date.parse(entry.at) - retentionDays * DAY_MS).toISOString();
  return [
    db
      .prepare(
        `INSERT INTO audit_log (at, actor, action, tenant_id, target, before_state, after_state)
         SELECT ?, ?, ?, ?, ?, ?, ? ${onlyIf ? `WHERE ${onlyIf.sql}` : ""}`,
      )
      .bind(
        entry.at,
        entry.actor,
        entry.action,
        entry.target.tenantId ?? null,
        JSON.stringify(entry.target),
        entry.before === null ? null : JSON.stringify(redact(entry.before)),
        entry.after === null ? null : JSON.stringify(redact(entry.after)),
        ...(onlyIf?.params ?? []),
      ),
    db
      .prepare(
        `DELETE FROM audit_log WHERE seq IN
           (SELECT seq FROM audit_log WHERE at < ? ORDER BY at LIMIT ${AUDIT_PRUNE_BATCH})`,
      )
      .bind(cutoff),
  ];
}

interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  action: AuditEntry["action"];
  target: string;
  before_state: string | null;
  after_state: string | null;
}

export function sqlAuditLog(
  db: SqlDatabase,
  { retentionDays = 365, now = () => new Date().toISOString() } = {},
): AuditLog {
  return {
    async record(entry) {
      await db.batch(auditStatements(db, { ...entry, at: now() }, retentionDays));
    },
    async list({ tenantId, from, to, limit, cursor }) {
      const clauses: string[] = [];
      const params: unknown[] = [];
      if (tenantId !== undefined) {
        clauses.push("tenant_id = ?");
        params.push(tenantId);
      }
      if (from !== undefined) {
        clauses.push("at >= ?");
        params.push(from);
      }
      if (to !== undefined) {
        clauses.push("at < ?");
        params.push(to);
      }
      if (cursor) {
        clauses.push("(at < ? OR (at = ? AND seq < ?))");
        params.push(cursor.at, cursor.at, cursor.seq);
      }
      const where = clauses.length > 0 ? `WHERE ${clauses.join(" AND ")}` : "";
      // One more than asked: whether a next page exists, without counting.
      const { results } = await db
        .prepare(`SELECT * FROM audit_log ${where} ORDER BY at DESC, seq DESC LIMIT ?`)
        .bind(...params, limit + 1)
        .all<AuditRow>();
      const page = results.slice(0, limit);
      const last = page.at(-1);
      const next: AuditCursor | null =
        results.length > limit && last ? { at: last.at, seq: last.seq } : null;
      return {
        items: page.map((row) => ({
          at: row.at,
          actor: row.actor,
          action: row.action,
          target: JSON.parse(row.target) as AuditEntry["target"],
          before: row.before_state === null ? null : (JSON.parse(row.before_state) as unknown),
          after: row.after_state === null ? null : (JSON.parse(row.after_state) as unknown),
        })),
        next,
      };
    },
  };
}

function toJob(row: JobRow): OwnedJob {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    subject: row.subject,
    type: row.type,
    fileName: row.file_name,
    createdAt: row.created_at,
    status: row.status,
    pages: row.pages,
  };
}

/** What an update makes of a tenant (for its audit entry, written in the update's batch). */
function patched(tenant: Tenant, patch: Parameters<TenantStore["updateTenant"]>[1], at: string) {
  const given = <T extends object>(values: Partial<T> | undefined) =>
    Object.fromEntries(Object.entries(values ?? {}).filter(([, value]) => value !== undefined));
  return {
    ...tenant,
    ...given({ name: patch.name, disabled: patch.disabled }),
    ...(patch.allowedOrigins ? { allowedOrigins: [...new Set(patch.allowedOrigins)].sort() } : {}),
    rateLimits: { ...tenant.rateLimits, ...given(patch.rateLimits) },
    budget: { ...tenant.budget, ...given(patch.budget) },
    updatedAt: at,
  };
}

export function sqlTenantStore(
  db: SqlDatabase,
  now = () => new Date().toISOString(),
  { auditRetentionDays = 365 } = {},
): TenantStore {
  const getTenant = async (id: string) => {
    const row = await db.prepare(`${TENANT_SELECT} WHERE t.id = ?`).bind(id).first<TenantRow>();
    return row ? toTenant(row) : null;
  };
  const getKey = (tenantId: string, keyId: string) =>
    db
      .prepare("SELECT * FROM api_keys WHERE id = ? AND tenant_id = ?")
      .bind(keyId, tenantId)
      .first<KeyRow & { hash: string }>();
  const originInserts = (tenantId: string, origins: string[]) =>
    origins.map((origin) =>
      db
        .prepare("INSERT OR IGNORE INTO tenant_origins (tenant_id, origin) VALUES (?, ?)")
        .bind(tenantId, origin),
    );
  const audited = (
    note: AuditNote | undefined,
    entry: Omit<AuditEntry, "actor">,
    onlyIf?: { sql: string; params: unknown[] },
  ) =>
    note ? auditStatements(db, { ...entry, actor: note.actor }, auditRetentionDays, onlyIf) : [];

  return {
    async createTenant({ name, allowedOrigins, rateLimits, budget }, audit) {
      const id = newId("tnt");
      const at = now();
      const limits: RateLimits = {
        readsPerMinute: rateLimits?.readsPerMinute ?? null,
        createsPerMinute: rateLimits?.createsPerMinute ?? null,
        endUserReadsPerMinute: rateLimits?.endUserReadsPerMinute ?? null,
        endUserCreatesPerMinute: rateLimits?.endUserCreatesPerMinute ?? null,
        endUserStreams: rateLimits?.endUserStreams ?? null,
      };
      const pages: Budget = {
        pagesPerMonth: budget?.pagesPerMonth ?? null,
        endUserPagesPerMonth: budget?.endUserPagesPerMonth ?? null,
      };
      const tenant: Tenant = {
        id,
        name,
        allowedOrigins: [...new Set(allowedOrigins)].sort(),
        disabled: false,
        rateLimits: limits,
        budget: pages,
        tokensNotBefore: null,
        createdAt: at,
        updatedAt: at,
      };
      await db.batch([
        db
          .prepare(
            `INSERT INTO tenants (id, name, reads_per_minute, creates_per_minute,
               end_user_reads_per_minute, end_user_creates_per_minute, end_user_streams,
               pages_per_month, end_user_pages_per_month, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .bind(
            id,
            name,
            limits.readsPerMinute,
            limits.createsPerMinute,
            limits.endUserReadsPerMinute,
            limits.endUserCreatesPerMinute,
            limits.endUserStreams,
            pages.pagesPerMonth,
            pages.endUserPagesPerMonth,
            at,
            at,
          ),
        ...originInserts(id, allowedOrigins),
        ...audited(audit, {
          at,
          action: "tenant.create",
          target: { tenantId: id },
          before: null,
          after: tenant,
        }),
      ]);
      return tenant;
    },

    async listTenants({ limit, cursor }) {
      // A row value: the index on (created_at, id) seeks straight to the page's first tenant.
      const after = cursor ? "WHERE (t.created_at, t.id) > (?, ?)" : "";
      // One more than asked: whether a next page exists, without counting.
      const { results } = await db
        .prepare(`${TENANT_SELECT} ${after} ORDER BY t.created_at, t.id LIMIT ?`)
        .bind(...(cursor ? [cursor.createdAt, cursor.id] : []), limit + 1)
        .all<TenantRow>();
      const page = results.slice(0, limit).map(toTenant);
      const last = page.at(-1);
      return {
        items: page,
        next: results.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null,
      };
    },

    getTenant,

    async updateTenant(id, patch, audit) {
      // Read first: origin rows for a tenant that does not exist would break a foreign key, and
      // the audit entry says what the tenant was.
      const before = await getTenant(id);
      if (!before) return null;
      const at = now();
      const statements = [
        db
          .prepare(
            `UPDATE tenants SET name = COALESCE(?, name), disabled = COALESCE(?, disabled),
               reads_per_minute = CASE WHEN ? THEN ? ELSE reads_per_minute END,
               creates_per_minute = CASE WHEN ? THEN ? ELSE creates_per_minute END,
               end_user_reads_per_minute =
                 CASE WHEN ? THEN ? ELSE end_user_reads_per_minute END,
               end_user_creates_per_minute =
                 CASE WHEN ? THEN ? ELSE end_user_creates_per_minute END,
               end_user_streams = CASE WHEN ? THEN ? ELSE end_user_streams END,
               pages_per_month = CASE WHEN ? THEN ? ELSE pages_per_month END,
               end_user_pages_per_month = CASE WHEN ? THEN ? ELSE end_user_pages_per_month END,
               updated_at = ?
             WHERE id = ?`,
          )
          .bind(
            patch.name ?? null,
            patch.disabled === undefined ? null : Number(patch.disabled),
            // `null` resets a limit to the default, so "given" and "value" travel separately.
            Number(patch.rateLimits?.readsPerMinute !== undefined),
            patch.rateLimits?.readsPerMinute ?? null,
            Number(patch.rateLimits?.createsPerMinute !== undefined),
            patch.rateLimits?.createsPerMinute ?? null,
            Number(patch.rateLimits?.endUserReadsPerMinute !== undefined),
            patch.rateLimits?.endUserReadsPerMinute ?? null,
            Number(patch.rateLimits?.endUserCreatesPerMinute !== undefined),
            patch.rateLimits?.endUserCreatesPerMinute ?? null,
            Number(patch.rateLimits?.endUserStreams !== undefined),
            patch.rateLimits?.endUserStreams ?? null,
            Number(patch.budget?.pagesPerMonth !== undefined),
            patch.budget?.pagesPerMonth ?? null,
            Number(patch.budget?.endUserPagesPerMonth !== undefined),
            patch.budget?.endUserPagesPerMonth ?? null,
            at,
            id,
          ),
      ];
      if (patch.allowedOrigins) {
        statements.push(db.prepare("DELETE FROM tenant_origins WHERE tenant_id = ?").bind(id));
        statements.push(...originInserts(id, patch.allowedOrigins));
      }
      statements.push(
        ...audited(audit, {
          at,
          action: "tenant.update",
          target: { tenantId: id },
          before,
          after: patched(before, patch, at),
        }),
      );
      await db.batch(statements);
      return getTenant(id);
    },

    async addKey({ tenantId, name, prefix, hash, expiresAt = null, scopes }, audit) {
      const id = newId("key");
      const at = now();
      const record: ApiKeyRecord = {
        id,
        tenantId,
        name,
        prefix,
        createdAt: at,
        revokedAt: null,
        expiresAt,
        scopes: scopes ?? [...ALL_SCOPES],
        lastUsedAt: null,
      };
      await db.batch([
        db
          .prepare(
            `INSERT INTO api_keys (id, tenant_id, name, prefix, hash, created_at, tagged, expires_at,
               scopes)
             VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)`,
          )
          .bind(id, tenantId, name, prefix, hash, at, expiresAt, JSON.stringify(record.scopes)),
        ...audited(audit, {
          at,
          action: "key.create",
          target: { tenantId, keyId: id },
          before: null,
          after: record,
        }),
      ]);
      return record;
    },

    async listKeys(tenantId) {
      const { results } = await db
        .prepare("SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id")
        .bind(tenantId)
        .all<KeyRow>();
      return results.map(toKey);
    },

    async revokeKey(tenantId, keyId, audit) {
      const row = audit ? await getKey(tenantId, keyId) : null;
      const at = now();
      const [revoked] = await db.batch([
        db
          .prepare(
            `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL
             RETURNING hash`,
          )
          .bind(at, keyId, tenantId),
        ...(row
          ? audited(
              audit,
              {
                at,
                action: "key.revoke",
                target: { tenantId, keyId },
                before: toKey(row),
                after: { ...toKey(row), revokedAt: at },
              },
              // Only if this call revoked it (not an earlier or a concurrent one).
              {
                sql: "EXISTS (SELECT 1 FROM api_keys WHERE id = ? AND revoked_at = ?)",
                params: [keyId, at],
              },
            )
          : []),
      ]);
      return (revoked?.results[0] as { hash: string } | undefined) ?? null;
    },

    async rotateKey(tenantId, keyId, { prefix, hash, oldKeyExpiresAt }, audit) {
      const row = await getKey(tenantId, keyId);
      const at = now();
      if (!row || row.revoked_at !== null) return null;
      if (row.expires_at !== null && row.expires_at <= at) return null;
      const old = toKey(row);
      // Sooner only: rotating a key that ends in an hour never lets it live a day more.
      const endsAt =
        old.expiresAt !== null && old.expiresAt < oldKeyExpiresAt ? old.expiresAt : oldKeyExpiresAt;
      const id = newId("key");
      const key: ApiKeyRecord = {
        ...old,
        id,
        prefix,
        createdAt: at,
        revokedAt: null,
        lastUsedAt: null,
        expiresAt: null,
      };
      const live = {
        sql: "EXISTS (SELECT 1 FROM api_keys WHERE id = ? AND revoked_at IS NULL)",
        params: [keyId],
      };
      const results = await db.batch([
        db
          .prepare(
            `INSERT INTO api_keys (id, tenant_id, name, prefix, hash, created_at, tagged, scopes)
             SELECT ?, ?, ?, ?, ?, ?, 1, ? WHERE ${live.sql} RETURNING id`,
          )
          .bind(
            id,
            tenantId,
            key.name,
            prefix,
            hash,
            at,
            JSON.stringify(key.scopes),
            ...live.params,
          ),
        db
          .prepare("UPDATE api_keys SET expires_at = ? WHERE id = ? AND revoked_at IS NULL")
          .bind(endsAt, keyId),
        ...audited(
          audit,
          {
            at,
            action: "key.rotate",
            target: { tenantId, keyId },
            before: old,
            after: { ...old, expiresAt: endsAt, newKey: key },
          },
          { sql: "EXISTS (SELECT 1 FROM api_keys WHERE id = ?)", params: [id] },
        ),
      ]);
      // Revoked meanwhile: nothing was made.
      if ((results[0]?.results.length ?? 0) === 0) return null;
      return { key, old: { ...old, expiresAt: endsAt }, oldHash: row.hash };
    },

    async recordKeyUse(keyId, at) {
      await db
        .prepare(
          `UPDATE api_keys SET last_used_at = ?1
           WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`,
        )
        .bind(at, keyId)
        .run();
    },

    async revokeTokens(tenantId, audit) {
      const before = audit ? await getTenant(tenantId) : null;
      const at = now();
      const [result] = await db.batch([
        db
          .prepare("UPDATE tenants SET tokens_not_before = ?, updated_at = ? WHERE id = ?")
          .bind(at, at, tenantId),
        ...(before
          ? audited(
              audit,
              {
                at,
                action: "tokens.revoke",
                target: { tenantId },
                before: { tokensNotBefore: before.tokensNotBefore },
                after: { tokensNotBefore: at },
              },
              { sql: "EXISTS (SELECT 1 FROM tenants WHERE id = ?)", params: [tenantId] },
            )
          : []),
      ]);
      return (result?.meta.changes ?? 0) > 0 ? getTenant(tenantId) : null;
    },

    async keyTagSecret() {
      const row = await db.prepare(TAG_SECRET_SELECT).first<{ value: string }>();
      if (!row) throw new Error("no api_key_tag_secret: apply the D1 migrations");
      return row.value;
    },

    async find(query) {
      // Every part is an index lookup, and all of them travel in one batch: one round trip.
      const parts: { name: keyof Found; statements: SqlStatement[] }[] = [];
      if (query.keyHash !== undefined) {
        parts.push({ name: "key", statements: [db.prepare(KEY_SELECT).bind(query.keyHash)] });
      }
      if (query.token) {
        const { tenantId, keyId } = query.token;
        parts.push({
          name: "token",
          statements: [db.prepare(TOKEN_SELECT).bind(keyId, tenantId)],
        });
      }
      if (query.jobId !== undefined) {
        parts.push({ name: "owner", statements: [db.prepare(JOB_SELECT).bind(query.jobId)] });
      }
      if (query.keyCheck) {
        parts.push({
          name: "keyCheck",
          statements: [db.prepare(TAG_SECRET_SELECT), db.prepare(LEGACY_KEYS_SELECT)],
        });
      }
      const results = await db.batch(parts.flatMap((part) => part.statements));
      const rows = (index: number) => (results[index]?.results ?? []) as unknown[];
      const found: Found = {};
      let index = 0;
      for (const part of parts) {
        if (part.name === "key") {
          const row = rows(index)[0] as
            | (TenantRow & {
                key_id: string;
                key_expires_at: string | null;
                key_scopes: string | null;
                key_last_used_at: string | null;
              })
            | undefined;
          found.key = row
            ? {
                tenant: toTenant(row),
                keyId: row.key_id,
                expiresAt: row.key_expires_at,
                scopes: scopesOf(row.key_scopes),
                lastUsedAt: row.key_last_used_at,
              }
            : null;
        } else if (part.name === "token") {
          const row = rows(index)[0] as
            | (TenantRow & { key_live: number; key_expires_at: string | null })
            | undefined;
          found.token = row
            ? {
                tenant: toTenant(row),
                keyLive: row.key_live === 1,
                keyExpiresAt: row.key_expires_at,
              }
            : { tenant: null, keyLive: false };
        } else if (part.name === "owner") {
          const row = rows(index)[0] as JobRow | undefined;
          found.owner = row ? toJob(row) : null;
        } else {
          const secret = rows(index)[0] as { value: string } | undefined;
          if (!secret) throw new Error("no api_key_tag_secret: apply the D1 migrations");
          const legacy = rows(index + 1) as { hash: string }[];
          found.keyCheck = {
            tagSecret: secret.value,
            legacyHashes: new Set(legacy.map((row) => row.hash)),
          };
        }
        index += part.statements.length;
      }
      return found;
    },
  };
}

/**
 * A status's place in the lifecycle: CREATED, then RUNNING or any status Waveline may add (say
 * `QUEUED`: not finished, and passed through as it is), then COMPLETED or FAILED, which never
 * change.
 */
function statusRank(value: string): string {
  return `(CASE ${value} WHEN 'CREATED' THEN 0 WHEN 'COMPLETED' THEN 2 WHEN 'FAILED' THEN 2 ELSE 1 END)`;
}

/**
 * Adds `delta` pages to the month totals (`tenant_month_pages`, `end_user_month_pages`) of the
 * rows `source` selects (`tenant_id`, `subject`, `month`, `delta`; `?1` to `?4` are its own).
 * Sent in the same batch as the write of the job, so totals and jobs change together.
 */
function addToMonthTotals(db: SqlDatabase, source: string, params: unknown[]): SqlStatement[] {
  return [
    db
      .prepare(
        `INSERT INTO tenant_month_pages (tenant_id, month, pages)
         SELECT tenant_id, month, delta FROM (${source}) WHERE true
         ON CONFLICT (tenant_id, month) DO UPDATE SET pages = pages + excluded.pages`,
      )
      .bind(...params),
    db
      .prepare(
        `INSERT INTO end_user_month_pages (tenant_id, subject, month, pages)
         SELECT tenant_id, subject, month, delta FROM (${source}) WHERE subject IS NOT NULL
         ON CONFLICT (tenant_id, subject, month) DO UPDATE SET pages = pages + excluded.pages`,
      )
      .bind(...params),
  ];
}

/** The pages each `progressUpdate` of a batch billed (its first statement's rows). */
function billedBy(results: SqlResult[]): BilledPages[] {
  const billed: BilledPages[] = [];
  for (let i = 0; i < results.length; i += PROGRESS_STATEMENTS) {
    for (const row of (results[i]?.results ?? []) as BilledPages[]) {
      if (row.pages > 0) billed.push(row);
    }
  }
  return billed;
}
const PROGRESS_STATEMENTS = 4;

/** The month (`2026-12`) of an ISO creation time, as the totals count it. */
const MONTH_OF = (createdAt: string) => `substr(${createdAt}, 1, 7)`;

/** Where the budget alerts a write claimed are sent (the tenants' outboxes); it never throws. */
export type BudgetAlertSink = (alerts: BudgetAlert[]) => Promise<void>;

/** A `budget_alerts` row as a `BudgetAlert` (with `alertOf`). */
export const ALERT_COLUMNS =
  "tenant_id AS tenantId, subject, month, percent, pages_per_month AS pagesPerMonth, pages_used AS pagesUsed";

export const alertOf = (row: Omit<BudgetAlert, "subject"> & { subject: string }): BudgetAlert => ({
  ...row,
  subject: row.subject || null,
});

const THRESHOLDS = BUDGET_ALERT_PERCENTS.map((percent) => `SELECT ${percent} AS percent`).join(
  " UNION ALL ",
);

/**
 * Claims every budget threshold that the month totals of the owners of `jobIds` (the tenant's,
 * and its end user's) have reached and no write claimed before: the rows are the budget alerts'
 * primary keys, so of many writes that pass a threshold at once exactly one gets it back. Sent
 * at the end of the batch that moved the totals, in its transaction.
 */
function claimBudgetAlerts(db: SqlDatabase, jobIds: readonly string[], at: string) {
  const claim = (subject: string, totals: string, on: string, budget: string) =>
    db
      .prepare(
        `INSERT OR IGNORE INTO budget_alerts
SELECT t.id, ${subject}, m.month, p.percent, ${budget}, m.pages, ?2, NULL
FROM (SELECT DISTINCT tenant_id, subject, ${MONTH_OF("created_at")} AS month FROM jobs WHERE id IN (SELECT value FROM json_each(?1))) j
JOIN tenants t ON t.id = j.tenant_id JOIN ${totals} m ON m.tenant_id = j.tenant_id AND m.month = j.month${on}
JOIN (${THRESHOLDS}) p WHERE ${budget} > 0 AND m.pages * 100 >= ${budget} * p.percent
RETURNING ${ALERT_COLUMNS}`,
      )
      .bind(JSON.stringify(jobIds), at);
  return [
    claim("''", "tenant_month_pages", "", "t.pages_per_month"),
    claim(
      "m.subject",
      "end_user_month_pages",
      " AND m.subject = j.subject",
      "COALESCE(m.pages_per_month, t.end_user_pages_per_month)",
    ),
  ];
}

/** The alerts the last two results of a batch (`claimBudgetAlerts`') claimed. */
function claimedAlerts(results: SqlResult[]): BudgetAlert[] {
  return results
    .slice(-2)
    .flatMap((result) => result.results as Parameters<typeof alertOf>[0][])
    .map(alertOf);
}

export function sqlJobStore(
  db: SqlDatabase,
  now = () => new Date().toISOString(),
  {
    auditRetentionDays = 365,
    alerts,
  }: { auditRetentionDays?: number; alerts?: BudgetAlertSink } = {},
): JobStore {
  /** A write and the budget alerts it claims, in one batch; the alerts are sent once it is done. */
  const writeAndAlert = async (statements: SqlStatement[], jobIds: readonly string[]) => {
    const results = await db.batch([...statements, ...claimBudgetAlerts(db, jobIds, now())]);
    const claimed = claimedAlerts(results);
    if (claimed.length > 0) await alerts?.(claimed);
    return results;
  };
  const insertJob = (job: OwnedJob, onConflict: string) =>
    db
      .prepare(
        `INSERT INTO jobs (id, tenant_id, subject, type, file_name, created_at, status, pages, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ${onConflict}`,
      )
      .bind(
        job.id,
        job.tenantId,
        job.subject,
        job.type,
        job.fileName,
        job.createdAt,
        job.status,
        job.pages,
        now(),
      );

  /** The job's pages, `sign` 1 or -1, to or from its month totals as its row stands. */
  const countJob = (jobId: string, sign: 1 | -1) =>
    addToMonthTotals(
      db,
      `SELECT tenant_id, subject, ${MONTH_OF("created_at")} AS month, ?2 * pages AS delta
       FROM jobs WHERE id = ?1`,
      [jobId, sign],
    );

  // Answers from several isolates and the settler may land in any order: a job only moves on.
  const progressUpdate = (jobId: string, status: JobStatus, pages: number) => [
    // First, what this update bills: the pages it adds, for metrics (read before the update).
    db
      .prepare(
        `SELECT tenant_id AS tenantId, subject, ?2 - pages AS pages
         FROM jobs WHERE id = ?1 AND status NOT IN ('COMPLETED', 'FAILED') AND ?2 > pages`,
      )
      .bind(jobId, pages),
    ...addToMonthTotals(
      db,
      `SELECT tenant_id, subject, ${MONTH_OF("created_at")} AS month, ?2 - pages AS delta
       FROM jobs WHERE id = ?1 AND status NOT IN ('COMPLETED', 'FAILED') AND ?2 > pages`,
      [jobId, pages],
    ),
    db
      .prepare(
        `UPDATE jobs SET
           status = CASE WHEN ${statusRank("?1")} >= ${statusRank("status")} THEN ?1 ELSE status END,
           pages = MAX(pages, ?2), updated_at = ?3
         WHERE id = ?4 AND status NOT IN ('COMPLETED', 'FAILED')
           AND (${statusRank("?1")} >= ${statusRank("status")} OR ?2 > pages)`,
      )
      .bind(status, pages, now(), jobId),
  ];

  const where = (filter: JobFilter) => {
    const clauses = ["tenant_id = ?"];
    const params: unknown[] = [filter.tenantId];
    if (filter.subject !== undefined) {
      clauses.push("subject = ?");
      params.push(filter.subject);
    }
    if (filter.jobIds) {
      clauses.push(`id IN (SELECT value FROM json_each(?))`);
      params.push(JSON.stringify(filter.jobIds));
    }
    return { sql: clauses.join(" AND "), params };
  };

  return {
    async record(job, budget) {
      // Counted only if it is new: the totals are written before the insert, in one transaction.
      const ownBudget = job.subject !== null && budget?.endUserPagesPerMonth !== undefined;
      const results = await writeAndAlert(
        [
          ...addToMonthTotals(
            db,
            `SELECT ?1 AS tenant_id, ?2 AS subject, ${MONTH_OF("?3")} AS month, ?4 AS delta
             WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE id = ?5)`,
            [job.tenantId, job.subject, job.createdAt, job.pages, job.id],
          ),
          insertJob(job, "ON CONFLICT (id) DO NOTHING RETURNING id"),
          // The budget the end user's token carries counts for their month, settled or not.
          ...(ownBudget
            ? [
                db
                  .prepare(
                    `UPDATE end_user_month_pages SET pages_per_month = ?
                     WHERE tenant_id = ? AND subject = ? AND month = ${MONTH_OF("?")}`,
                  )
                  .bind(budget.endUserPagesPerMonth, job.tenantId, job.subject, job.createdAt),
              ]
            : []),
        ],
        [job.id],
      );
      if ((results[2]?.results.length ?? 0) > 0) return "recorded";
      const owner = await db
        .prepare("SELECT tenant_id, subject FROM jobs WHERE id = ?")
        .bind(job.id)
        .first<Pick<JobRow, "tenant_id" | "subject">>();
      return owner?.tenant_id === job.tenantId && owner.subject === job.subject
        ? "duplicate"
        : "taken";
    },

    async ownerOf(jobId) {
      const row = await db.prepare(JOB_SELECT).bind(jobId).first<JobRow>();
      return row ? toJob(row) : null;
    },

    async list(filter, { count, offset, countUpTo }) {
      const { sql, params } = where(filter);
      const [rows, total] = await db.batch<JobRow | { total: number }>([
        db
          .prepare(
            `SELECT * FROM jobs WHERE ${sql} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
          )
          .bind(...params, count, offset),
        // Counting stops at countUpTo: a tenant's millionth job costs no page a full scan.
        db
          .prepare(`SELECT COUNT(*) AS total FROM (SELECT 1 FROM jobs WHERE ${sql} LIMIT ?)`)
          .bind(...params, countUpTo),
      ]);
      return {
        items: ((rows?.results ?? []) as JobRow[]).map(toJob),
        total: (total?.results[0] as { total: number } | undefined)?.total ?? 0,
      };
    },

    async assign(job, audit) {
      const previous = audit
        ? await db
            .prepare("SELECT tenant_id, subject FROM jobs WHERE id = ?")
            .bind(job.id)
            .first<Pick<JobRow, "tenant_id" | "subject">>()
        : null;
      const at = now();
      // Its pages leave the previous owner's totals and join the new one's.
      await writeAndAlert(
        [
          ...countJob(job.id, -1),
          insertJob(
            job,
            `ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, subject = excluded.subject,
             type = excluded.type, file_name = excluded.file_name, created_at = excluded.created_at,
             status = excluded.status, pages = excluded.pages, updated_at = excluded.updated_at`,
          ),
          ...countJob(job.id, 1),
          ...(audit
            ? auditStatements(
                db,
                {
                  at,
                  actor: audit.actor,
                  action: "job.assign",
                  target: { tenantId: job.tenantId, jobId: job.id },
                  before: previous && { tenantId: previous.tenant_id, subject: previous.subject },
                  after: { tenantId: job.tenantId, subject: job.subject },
                },
                auditRetentionDays,
              )
            : []),
        ],
        [job.id],
      );
    },

    async recordProgress(jobId, status, pages) {
      const statements = progressUpdate(jobId, status, pages);
      const results = await writeAndAlert(statements, [jobId]);
      return billedBy(results.slice(0, statements.length));
    },

    async recordProgressOf(progress) {
      if (progress.length === 0) return [];
      const statements = progress.flatMap((job) => progressUpdate(job.id, job.status, job.pages));
      const results = await writeAndAlert(
        statements,
        progress.map((job) => job.id),
      );
      return billedBy(results.slice(0, statements.length));
    },

    async unsettledJobs(since, limit) {
      const { results } = await db
        .prepare(
          `SELECT id, created_at AS createdAt, status, pages FROM jobs
           WHERE status NOT IN ('COMPLETED', 'FAILED') AND created_at >= ?
           ORDER BY created_at DESC LIMIT ?`,
        )
        .bind(since, limit)
        .all<{ id: string; createdAt: string; status: JobStatus; pages: number }>();
      return results;
    },

    async monthlyPages(tenantId, month, subject) {
      const row = await db
        .prepare(
          `SELECT
             (SELECT pages FROM tenant_month_pages WHERE tenant_id = ?1 AND month = ?2) AS tenant,
             (SELECT pages FROM end_user_month_pages
               WHERE tenant_id = ?1 AND subject = ?3 AND month = ?2) AS endUser`,
        )
        .bind(tenantId, month, subject ?? null)
        .first<{ tenant: number | null; endUser: number | null }>();
      return { tenant: row?.tenant ?? 0, endUser: row?.endUser ?? 0 };
    },

    async usage(tenantId, from, to, subject): Promise<Usage> {
      const bySubject = subject === undefined ? "" : "AND subject = ?";
      const row = await db
        .prepare(
          `SELECT COUNT(*) AS jobsCreated,
             COALESCE(SUM(status = 'COMPLETED'), 0) AS jobsCompleted,
             COALESCE(SUM(status = 'FAILED'), 0) AS jobsFailed,
             COALESCE(SUM(pages), 0) AS pagesBilled
           FROM jobs WHERE tenant_id = ? ${bySubject} AND created_at >= ? AND created_at < ?`,
        )
        .bind(...(subject === undefined ? [tenantId] : [tenantId, subject]), from, to)
        .first<Usage>();
      return row ?? { jobsCreated: 0, jobsCompleted: 0, jobsFailed: 0, pagesBilled: 0 };
    },
  };
}
