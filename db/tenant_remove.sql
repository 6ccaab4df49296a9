-- Offboard one tenant's database login. Idempotent: safe to run again.
-- psql -v tenant_user=tenant1_dbuser -v dbname=<db> [-v purge=1] -f db/tenant_remove.sql
--
-- The login is refused at once (NOLOGIN) and its open sessions ended; its
-- privileges are revoked and the role dropped. Its metadata row is marked
-- 'disabled', so row-level security serves nothing even to a login created
-- again by mistake. Its records are kept, unless purge is set.

SELECT format('ALTER ROLE %I NOLOGIN', :'tenant_user')
WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'tenant_user')
\gexec
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :'tenant_user';
SELECT format('REVOKE ALL ON tenant_metadata, records FROM %I', :'tenant_user')
WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'tenant_user')
\gexec
SELECT format('REVOKE USAGE ON SCHEMA public FROM %I', :'tenant_user')
WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'tenant_user')
\gexec
SELECT format('REVOKE CONNECT ON DATABASE %I FROM %I', :'dbname', :'tenant_user')
WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'tenant_user')
\gexec
SELECT format('DROP ROLE %I', :'tenant_user')
WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'tenant_user')
\gexec
UPDATE tenant_metadata SET status = 'disabled' WHERE tenant_id = :'tenant_user';
\if :{?purge}
DELETE FROM records WHERE tenant_id = :'tenant_user';
DELETE FROM tenant_metadata WHERE tenant_id = :'tenant_user';
\endif
