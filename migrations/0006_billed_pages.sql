-- Counting what Waveline billed: running page totals, and the jobs still to settle.

-- Pages billed per calendar month (UTC, the `YYYY-MM` of the job's creation), per tenant and per
-- end user, kept by triggers whenever a job is recorded, reassigned or its pages grow: a budget
-- check is a primary-key lookup, however many jobs the month has.
CREATE TABLE tenant_month_pages (
  tenant_id TEXT NOT NULL,
  month TEXT NOT NULL,
  pages INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, month)
) WITHOUT ROWID;

CREATE TABLE end_user_month_pages (
  tenant_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  month TEXT NOT NULL,
  pages INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, subject, month)
) WITHOUT ROWID;

INSERT INTO tenant_month_pages (tenant_id, month, pages)
  SELECT tenant_id, substr(created_at, 1, 7), SUM(pages) FROM jobs GROUP BY 1, 2;

INSERT INTO end_user_month_pages (tenant_id, subject, month, pages)
  SELECT tenant_id, subject, substr(created_at, 1, 7), SUM(pages) FROM jobs
  WHERE subject IS NOT NULL GROUP BY 1, 2, 3;

CREATE TRIGGER jobs_count_pages AFTER INSERT ON jobs BEGIN
  INSERT INTO tenant_month_pages (tenant_id, month, pages)
    VALUES (NEW.tenant_id, substr(NEW.created_at, 1, 7), NEW.pages)
    ON CONFLICT (tenant_id, month) DO UPDATE SET pages = pages + excluded.pages;
  INSERT INTO end_user_month_pages (tenant_id, subject, month, pages)
    SELECT NEW.tenant_id, NEW.subject, substr(NEW.created_at, 1, 7), NEW.pages
    WHERE NEW.subject IS NOT NULL
    ON CONFLICT (tenant_id, subject, month) DO UPDATE SET pages = pages + excluded.pages;
END;

CREATE TRIGGER jobs_recount_pages AFTER UPDATE OF tenant_id, subject, created_at, pages ON jobs
WHEN OLD.pages IS NOT NEW.pages OR OLD.tenant_id IS NOT NEW.tenant_id
  OR OLD.subject IS NOT NEW.subject OR OLD.created_at IS NOT NEW.created_at
BEGIN
  UPDATE tenant_month_pages SET pages = pages - OLD.pages
    WHERE tenant_id = OLD.tenant_id AND month = substr(OLD.created_at, 1, 7);
  UPDATE end_user_month_pages SET pages = pages - OLD.pages
    WHERE tenant_id = OLD.tenant_id AND subject = OLD.subject
      AND month = substr(OLD.created_at, 1, 7);
  INSERT INTO tenant_month_pages (tenant_id, month, pages)
    VALUES (NEW.tenant_id, substr(NEW.created_at, 1, 7), NEW.pages)
    ON CONFLICT (tenant_id, month) DO UPDATE SET pages = pages + excluded.pages;
  INSERT INTO end_user_month_pages (tenant_id, subject, month, pages)
    SELECT NEW.tenant_id, NEW.subject, substr(NEW.created_at, 1, 7), NEW.pages
    WHERE NEW.subject IS NOT NULL
    ON CONFLICT (tenant_id, subject, month) DO UPDATE SET pages = pages + excluded.pages;
END;

-- Jobs not finished as last seen, for settlement: it looks for them in Waveline's listing.
CREATE INDEX jobs_unsettled ON jobs (created_at) WHERE status NOT IN ('COMPLETED', 'FAILED');
