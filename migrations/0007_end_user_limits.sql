-- Each end user's (`sub` of a browser token) part of the tenant's limits. NULL: a quarter of the
-- tenant's limit (of STREAMS_PER_TENANT for streams); 0: no share of their own.
ALTER TABLE tenants ADD COLUMN end_user_reads_per_minute INTEGER;
ALTER TABLE tenants ADD COLUMN end_user_creates_per_minute INTEGER;
ALTER TABLE tenants ADD COLUMN end_user_streams INTEGER;
