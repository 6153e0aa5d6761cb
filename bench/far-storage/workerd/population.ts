import { env } from "cloudflare:workers";

/**
 * `count` tenants nobody here uses, each with two live (tagged) API keys and one origin, made by
 * SQL alone, as test/integration/edge-lookups.test.ts makes them: the crowd that lookups whose
 * cost grows with the tenants would read.
 */
export async function seedOtherTenants(count: number): Promise<void> {
  const at = "2026-01-01T00:00:00.000Z";
  const numbers = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})`;
  await env.DB.batch([
    env.DB.prepare(
      `${numbers} INSERT INTO tenants (id, name, created_at, updated_at)
       SELECT 'tnt_other_' || i, 'other ' || i, '${at}', '${at}' FROM n`,
    ),
    env.DB.prepare(
      `${numbers} INSERT INTO tenant_origins (tenant_id, origin)
       SELECT 'tnt_other_' || i, 'https://other-' || i || '.example' FROM n`,
    ),
    ...[1, 2].map((k) =>
      env.DB.prepare(
        `${numbers} INSERT INTO api_keys (id, tenant_id, name, prefix, hash, created_at, tagged)
         SELECT 'key_other_${k}_' || i, 'tnt_other_' || i, 'k${k}', 'wlp_xxxxxx',
           lower(hex(randomblob(32))), '${at}', 1 FROM n`,
      ),
    ),
  ]);
}
