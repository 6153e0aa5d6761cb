import type {
  ApiKeyRecord,
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
const TENANT_ORIGINS =
  "(SELECT json_group_array(origin) FROM tenant_origins o WHERE o.tenant_id = t.id)";
const TENANT_SELECT = `
  SELECT t.id, t.name, t.disabled, t.reads_per_minute, t.creates_per_minute,
    t.end_user_reads_per_minute, t.end_user_creates_per_minute, t.end_user_streams,
    t.pages_per_month, t.end_user_pages_per_month, t.tokens_not_before, t.created_at, t.updated_at,
    ${TENANT_ORIGINS} AS origins
  FROM tenants t`;

const KEY_SELECT = `
  SELECT t.*, k.id AS key_id, ${TENANT_ORIGINS} AS origins
  FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
  WHERE k.hash = ? AND k.revoked_at IS NULL`;
const TOKEN_SELECT = `
  SELECT t.*, ${TENANT_ORIGINS} AS origins,
    EXISTS (SELECT 1 FROM api_keys k WHERE k.id = ? AND k.tenant_id = ? AND k.revoked_at IS NULL)
      AS key_live
  FROM tenants t WHERE t.id = ?`;
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
          `INSERT INTO api_keys (id, tenant_id, name, prefix, hash, created_at, tagged)
           VALUES (?, ?, ?, ?, ?, ?, 1)`,
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
      return db
        .prepare(
          `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL
           RETURNING hash`,
        )
        .bind(now(), keyId, tenantId)
        .first<{ hash: string }>();
    },

    async revokeTokens(tenantId) {
      const at = now();
      const result = await db
        .prepare("UPDATE tenants SET tokens_not_before = ?, updated_at = ? WHERE id = ?")
        .bind(at, at, tenantId)
        .run();
      return result.meta.changes > 0 ? getTenant(tenantId) : null;
    },

    async keyTagSecret() {
      const row = await db.prepare(TAG_SECRET_SELECT).first<{ value: string }>();
      if (!row) throw new Error("no api_key_tag_secret: apply the D1 migrations");
      return row.value;
    },

    async find(query) {
      // Every part is an index lookup, and all of them travel in one batch: one round trip.
      const parts: { name: keyof Found; statements: D1PreparedStatement[] }[] = [];
      if (query.keyHash !== undefined) {
        parts.push({ name: "key", statements: [db.prepare(KEY_SELECT).bind(query.keyHash)] });
      }
      if (query.token) {
        const { tenantId, keyId } = query.token;
        parts.push({
          name: "token",
          statements: [db.prepare(TOKEN_SELECT).bind(keyId, tenantId, tenantId)],
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
          const row = rows(index)[0] as (TenantRow & { key_id: string }) | undefined;
          found.key = row ? { tenant: toTenant(row), keyId: row.key_id } : null;
        } else if (part.name === "token") {
          const row = rows(index)[0] as (TenantRow & { key_live: number }) | undefined;
          found.token = row
            ? { tenant: toTenant(row), keyLive: row.key_live === 1 }
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
function addToMonthTotals(
  db: D1Database,
  source: string,
  params: unknown[],
): D1PreparedStatement[] {
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
function claimBudgetAlerts(db: D1Database, jobIds: readonly string[], at: string) {
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
function claimedAlerts(results: D1Result[]): BudgetAlert[] {
  return results
    .slice(-2)
    .flatMap((result) => result.results as Parameters<typeof alertOf>[0][])
    .map(alertOf);
}

export function d1JobStore(
  db: D1Database,
  alerts?: BudgetAlertSink,
  now = () => new Date().toISOString(),
): JobStore {
  /** A write and the budget alerts it claims, in one batch; the alerts are sent once it is done. */
  const writeAndAlert = async (statements: D1PreparedStatement[], jobIds: readonly string[]) => {
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

    async assign(job) {
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
        ],
        [job.id],
      );
    },

    async recordProgress(jobId, status, pages) {
      await writeAndAlert(progressUpdate(jobId, status, pages), [jobId]);
    },

    async recordProgressOf(progress) {
      if (progress.length === 0) return;
      await writeAndAlert(
        progress.flatMap((job) => progressUpdate(job.id, job.status, job.pages)),
        progress.map((job) => job.id),
      );
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
