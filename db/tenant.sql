-- Onboard one tenant's database login. Idempotent: safe to run again.
-- psql -v tenant_user=tenant1_dbuser [-v statement_timeout_ms=<ms>] -f db/tenant.sql
--
-- What it does is onboard_tenant() in db/01_schema.sql, which the db-admin
-- function runs too: the login (IAM authentication only, no ownership, no
-- RLS bypass, only the privileges the RLS policy is written for), the
-- server's bounds on its sessions, and its 'active' metadata row.
-- statement_timeout_ms is the functions' DB_STATEMENT_TIMEOUT_MS (5000 as
-- theirs unless given): no statement runs longer than the client waits.
\if :{?statement_timeout_ms}
\else
\set statement_timeout_ms 5000
\endif
SELECT onboard_tenant(:'tenant_user', :'statement_timeout_ms');
