-- Offboard one tenant's database login. Idempotent: safe to run again.
-- psql -v tenant_user=tenant1_dbuser [-v purge=1] -f db/tenant_remove.sql
--
-- What it does is offboard_tenant() in db/01_schema.sql, which the
-- db-admin function runs too: the login refused at once and its sessions
-- ended, its privileges revoked and the role dropped, its metadata row
-- 'disabled'; its records kept, unless purge is set.
\if :{?purge}
SELECT offboard_tenant(:'tenant_user', true);
\else
SELECT offboard_tenant(:'tenant_user', false);
\endif
