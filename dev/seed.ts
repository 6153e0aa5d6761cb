/**
 * The local database's demo data: a tenant with a fixed API key, the origins front-end dev servers
 * use, and the fake Waveline's seeded jobs. Idempotent: what a developer changed stays changed.
 */
import { createHash } from "node:crypto";
import { SEED_JOBS, SEEDED_JOB_IDS } from "./fake-waveline";

/** Local only: never a key of any deployed proxy. */
export const DEV_API_KEY = "wlp_dev_local_only_0123456789abcdefghijklmnopqrstuv";
export const DEV_TENANT_ID = "tnt_demo";
/** The end user the demo page mints its tokens for (public/demo/demo.js): the finished seed job is theirs. */
export const DEV_DEMO_USER = "demo-page";
export const DEV_ORIGINS = [
  "http://localhost:5173",
  "http://127.0.0.1:5173",
  "http://localhost:3000",
  // The proxy's own /demo page: a browser sends its Origin on a same-origin POST too.
  "http://127.0.0.1:8787",
  "http://localhost:8787",
];

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;

export function devSeedSql(now = new Date().toISOString()): string {
  const hash = createHash("sha256").update(DEV_API_KEY).digest("hex");
  const at = quote(now);
  const statements = [
    `INSERT OR IGNORE INTO tenants (id, name, disabled, created_at, updated_at)
     VALUES (${quote(DEV_TENANT_ID)}, 'demo', 0, ${at}, ${at});`,
    ...DEV_ORIGINS.map(
      (origin) =>
        `INSERT OR IGNORE INTO tenant_origins (tenant_id, origin) VALUES (${quote(DEV_TENANT_ID)}, ${quote(origin)});`,
    ),
    `INSERT OR IGNORE INTO api_keys (id, tenant_id, name, prefix, hash, created_at)
     VALUES ('key_demo', ${quote(DEV_TENANT_ID)}, 'dev', ${quote(DEV_API_KEY.slice(0, 10))}, ${quote(hash)}, ${at});`,
    ...SEED_JOBS.map(
      (job) =>
        `INSERT OR IGNORE INTO jobs (id, tenant_id, subject, type, file_name, created_at, status, pages, updated_at)
         VALUES (${quote(job.id)}, ${quote(DEV_TENANT_ID)}, ${job.id === SEEDED_JOB_IDS.completed ? quote(DEV_DEMO_USER) : "NULL"}, ${quote(job.type)}, ${quote(job.fileName)},
           ${quote(job.createdAt)}, ${quote(job.status)}, ${job.pages}, ${at});`,
    ),
  ];
  return statements.join("\n");
}
