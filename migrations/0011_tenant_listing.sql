-- `GET /admin/tenants` pages by (created_at, id): each page starts where the last ended, through
-- this index, so a page reads its own rows and not the tenants before it.
CREATE INDEX tenants_by_creation ON tenants (created_at, id);
