-- API keys with a lifecycle (issue 23): an expiry, scopes, and when they were last used.
-- NULL expires_at: the key does not expire. Rotation sets the old key's expiry.
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
-- A JSON array of scopes (`["jobs:read"]`); NULL: every scope (the keys made before scopes).
ALTER TABLE api_keys ADD COLUMN scopes TEXT;
-- Written at most once an hour per key per isolate, after the answer: at most an hour stale.
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
