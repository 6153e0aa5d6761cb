-- Budget alerts (`budget.threshold` webhooks): each threshold (80, 100 percent) of a tenant's or an
-- end user's monthly page budget is announced once a month. The row is claimed (INSERT OR IGNORE
-- ... RETURNING) in the same batch as the write of a job that moves the month's pages past it, so
-- however many jobs settle at once, one of them claims it; `notified_at` is set once the tenant's
-- outbox has the event (the settler sends again what stayed unnotified). The claim inserts its
-- columns by position: keep their order.
CREATE TABLE budget_alerts (
  tenant_id TEXT NOT NULL,
  -- '' for the tenant's own budget, else the end user's `sub`.
  subject TEXT NOT NULL,
  month TEXT NOT NULL,
  percent INTEGER NOT NULL,
  pages_per_month INTEGER NOT NULL,
  pages_used INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  notified_at TEXT,
  PRIMARY KEY (tenant_id, subject, month, percent)
);

CREATE INDEX budget_alerts_unnotified ON budget_alerts (created_at) WHERE notified_at IS NULL;

-- The page budget the end user's token carried when it last created a job that month (NULL: the
-- tenant's `end_user_pages_per_month` applies), so that settlement, which has no token, knows it.
ALTER TABLE end_user_month_pages ADD COLUMN pages_per_month INTEGER;
