-- Lookups whose cost does not grow with the number of tenants (issue 21).

-- API keys now carry a tag: an HMAC of the key under a secret of this database, checked before
-- any lookup, so a made-up key costs no query. Keys made before have none ("legacy"): each
-- isolate holds the (shrinking) set of their hashes instead.
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO settings (name, value) VALUES ('api_key_tag_secret', lower(hex(randomblob(32))));

ALTER TABLE api_keys ADD COLUMN tagged INTEGER NOT NULL DEFAULT 0;
CREATE INDEX api_keys_legacy_live ON api_keys (hash) WHERE tagged = 0 AND revoked_at IS NULL;

-- Preflights no longer ask which tenant lists an origin (the real request is held to its own
-- tenant's list), so nothing looks origins up across tenants any more.
DROP INDEX tenant_origins_by_origin;
