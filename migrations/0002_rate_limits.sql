-- Per-tenant request rate limits, per minute. NULL means the proxy's default
-- (READ_RATE_LIMIT_PER_MIN, CREATE_RATE_LIMIT_PER_MIN).
ALTER TABLE tenants ADD COLUMN reads_per_minute INTEGER;
ALTER TABLE tenants ADD COLUMN creates_per_minute INTEGER;
