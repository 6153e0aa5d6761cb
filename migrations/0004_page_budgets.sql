-- Monthly page budgets (calendar months, UTC), set by an operator. NULL: no budget.
ALTER TABLE tenants ADD COLUMN pages_per_month INTEGER;
-- What each end user (`sub`) of the tenant may use a month, unless their token says otherwise.
ALTER TABLE tenants ADD COLUMN end_user_pages_per_month INTEGER;
