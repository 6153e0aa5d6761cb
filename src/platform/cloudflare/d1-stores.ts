import type {
  ApiKeyRecord,
  Budget,
  JobFilter,
  JobStore,
  OwnedJob,
  RateLimits,
  Tenant,
  TenantStore,
  Usage,
} from "../../core/tenancy/store";
import type { JobStatus } from "../../waveline/schema";

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
const TENANT_SELECT = `
  SELECT t.id, t.name, t.disabled, t.reads_per_minute, t.creates_per_minute,
    t.end_user_reads_per_minute, t.end_user_creates_per_minute, t.end_user_streams,
    t.pages_per_month, t.end_user_pages_per_month, t.tokens_not_before, t.created_at, t.updated_at,
    (SELECT json_group_array(origin) FROM tenant_origins o WHERE o.tenant_id = t.id) AS origins
  FROM tenants t`;

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

function toKey(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
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

export function d1TenantStore(db: D1Database, now = () => new Date().toISOString()): TenantStore {
  const getTenant = async (id: string) => {
    const row = await db.prepare(`${TENANT_SELECT} WHERE t.id = ?`).bind(id).first<TenantRow>();
    return row ? toTenant(row) : null;
  };
  const originInserts = (tenantId: string, origins: string[]) =>
    origins.map((origin) =>
      db
        .prepare("INSERT OR IGNORE INTO tenant_origins (tenant_id, origin) VALUES (?, ?)")
        .bind(tenantId, origin),
    );

  return {
    async createTenant({ name, allowedOrigins, rateLimits, budget }) {
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
      ]);
      return {
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
    },

    async listTenants() {
      const { results } = await db
        .prepare(`${TENANT_SELECT} ORDER BY t.created_at, t.id`)
        .all<TenantRow>();
      return results.map(toTenant);
    },

    getTenant,

    async updateTenant(id, patch) {
      // Checked first: origin rows for a tenant that does not exist would break a foreign key.
      if (!(await getTenant(id))) return null;
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
            now(),
            id,
          ),
      ];
      if (patch.allowedOrigins) {
        statements.push(db.prepare("DELETE FROM tenant_origins WHERE tenant_id = ?").bind(id));
        statements.push(...originInserts(id, patch.allowedOrigins));
      }
      await db.batch(statements);
      return getTenant(id);
    },

    async addKey({ tenantId, name, prefix, hash }) {
      const id = newId("key");
      const at = now();
      await db
        .prepare(
          "INSERT INTO api_keys (id, tenant_id, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id, tenantId, name, prefix, hash, at)
        .run();
      return { id, tenantId, name, prefix, createdAt: at, revokedAt: null };
    },

    async listKeys(tenantId) {
      const { results } = await db
        .prepare("SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id")
        .bind(tenantId)
        .all<KeyRow>();
      return results.map(toKey);
    },

    async revokeKey(tenantId, keyId) {
      const result = await db
        .prepare(
          "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
        )
        .bind(now(), keyId, tenantId)
        .run();
      return result.meta.changes > 0;
    },

    async keyIsLive(tenantId, keyId) {
      const row = await db
        .prepare("SELECT 1 FROM api_keys WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL")
        .bind(keyId, tenantId)
        .first();
      return row !== null;
    },

    async revokeTokens(tenantId) {
      const at = now();
      const result = await db
        .prepare("UPDATE tenants SET tokens_not_before = ?, updated_at = ? WHERE id = ?")
        .bind(at, at, tenantId)
        .run();
      return result.meta.changes > 0 ? getTenant(tenantId) : null;
    },

    async liveKeyHashes() {
      const { results } = await db
        .prepare("SELECT hash FROM api_keys WHERE revoked_at IS NULL")
        .all<{ hash: string }>();
      return new Set(results.map((row) => row.hash));
    },

    async tenantByKeyHash(hash) {
      const row = await db
        .prepare(
          `SELECT t.*, k.id AS key_id,
             (SELECT json_group_array(origin) FROM tenant_origins o WHERE o.tenant_id = t.id) AS origins
           FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
           WHERE k.hash = ? AND k.revoked_at IS NULL`,
        )
        .bind(hash)
        .first<TenantRow & { key_id: string }>();
      return row ? { tenant: toTenant(row), keyId: row.key_id } : null;
    },

    async enabledOrigins() {
      const { results } = await db
        .prepare(
          `SELECT DISTINCT o.origin FROM tenant_origins o JOIN tenants t ON t.id = o.tenant_id
           WHERE t.disabled = 0`,
        )
        .all<{ origin: string }>();
      return new Set(results.map((row) => row.origin));
    },
  };
}

export function d1JobStore(db: D1Database, now = () => new Date().toISOString()): JobStore {
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
      )
      .all();

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
    async record(job) {
      const { results } = await insertJob(job, "ON CONFLICT (id) DO NOTHING RETURNING id");
      if (results.length > 0) return "recorded";
      const owner = await db
        .prepare("SELECT tenant_id, subject FROM jobs WHERE id = ?")
        .bind(job.id)
        .first<Pick<JobRow, "tenant_id" | "subject">>();
      return owner?.tenant_id === job.tenantId && owner.subject === job.subject
        ? "duplicate"
        : "taken";
    },

    async ownerOf(jobId) {
      const row = await db.prepare("SELECT * FROM jobs WHERE id = ?").bind(jobId).first<JobRow>();
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

    async assign(job) {
      await insertJob(
        job,
        `ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, subject = excluded.subject,
           type = excluded.type, file_name = excluded.file_name, created_at = excluded.created_at,
           status = excluded.status, pages = excluded.pages, updated_at = excluded.updated_at`,
      );
    },

    async recordProgress(jobId, status, pages) {
      await db
        .prepare("UPDATE jobs SET status = ?, pages = ?, updated_at = ? WHERE id = ?")
        .bind(status, pages, now(), jobId)
        .run();
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
