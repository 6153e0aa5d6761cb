-- The audit log (issue 23): every administrative change, who made it, before and after (never a
-- secret). Entries of changes kept in D1 are written in the same batch (transaction) as the change.
CREATE TABLE audit_log (
  -- The order entries were written in: ties of `at` (and clocks of different isolates) apart.
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  -- `admin:<fingerprint of the admin token>` or `key:<API key id>`.
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  -- The tenant the change concerns, if any: what `GET /admin/audit?tenantId=` filters on.
  tenant_id TEXT,
  -- JSON: the ids the change is about; the states before and after (NULL: none), redacted.
  target TEXT NOT NULL,
  before_state TEXT,
  after_state TEXT
);
-- Newest first over everyone's, or one tenant's; and the retention's bounded prune by time.
CREATE INDEX audit_log_by_time ON audit_log (at, seq);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, at, seq);
