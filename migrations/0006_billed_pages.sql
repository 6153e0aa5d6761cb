-- Counting what Waveline billed: running page totals, and the jobs still to settle.

-- Pages billed per calendar month (UTC, the `YYYY-MM` of the job's creation), per tenant and per
-- end user: the job store updates them in the same batch (one transaction) as every write of a
-- job that records it, reassigns it or grows its pages, so a budget check is a primary-key
-- lookup, however many jobs the month has. (Not triggers: D1's remote migration endpoint has
-- been seen to split a trigger's body at its semicolons.)
CREATE TABLE tenant_month_pages (
  tenant_id TEXT NOT NULL,
  month TEXT NOT NULL,
  pages INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, month)
);

CREATE TABLE end_user_month_pages (
  tenant_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  month TEXT NOT NULL,
  pages INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, subject, month)
);

INSERT INTO tenant_month_pages (tenant_id, month, pages)
  SELECT tenant_id, substr(created_at, 1, 7), SUM(pages) FROM jobs GROUP BY 1, 2;

INSERT INTO end_user_month_pages (tenant_id, subject, month, pages)
  SELECT tenant_id, subject, substr(created_at, 1, 7), SUM(pages) FROM jobs
  WHERE subject IS NOT NULL GROUP BY 1, 2, 3;

-- Jobs not finished as last seen, for settlement: it looks for them in Waveline's listing.
CREATE INDEX jobs_unsettled ON jobs (created_at) WHERE status NOT IN ('COMPLETED', 'FAILED');
