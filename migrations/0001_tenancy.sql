-- Tenants, their API keys (hashes only), their browser origins, and which tenant owns which job.
-- D1 is the source of truth for ownership: strongly consistent, unlike KV.

CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE tenant_origins (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  origin TEXT NOT NULL,
  PRIMARY KEY (tenant_id, origin)
);
-- CORS preflights ask "does any tenant list this origin?" before anyone is authenticated.
CREATE INDEX tenant_origins_by_origin ON tenant_origins (origin);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  -- The first characters of the key, to tell keys apart in listings; never enough to use it.
  prefix TEXT NOT NULL,
  -- Hex SHA-256 of the whole key: the key itself is shown once and never stored.
  hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);

CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  -- The tenant's end user, from the browser token that created the job (NULL for API keys).
  subject TEXT,
  type TEXT NOT NULL,
  file_name TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  -- Last status and billed pages the proxy saw; exact once the job is terminal.
  status TEXT NOT NULL DEFAULT 'CREATED',
  pages INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL
);
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, created_at DESC);
CREATE INDEX jobs_by_subject ON jobs (tenant_id, subject, created_at DESC);
