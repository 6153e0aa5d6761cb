-- Browser tokens of a tenant issued at or before this instant (ISO 8601) are refused: an
-- operator ends them all without rotating the signing key every tenant shares. NULL: none.
ALTER TABLE tenants ADD COLUMN tokens_not_before TEXT;
