-- Onboard one tenant's database login. Idempotent: safe to run again.
-- psql -v tenant_user=tenant1_dbuser -v dbname=<db> [-v statement_timeout_ms=<ms>] -f db/tenant.sql
--
-- The role can log in only through IAM authentication (rds_iam), owns
-- nothing, cannot bypass row-level security, and holds only the table
-- privileges the RLS policy is written for.

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS', :'tenant_user')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'tenant_user')
\gexec

ALTER ROLE :"tenant_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
GRANT rds_iam TO :"tenant_user";
-- The server's own bounds on the tenant's sessions, whatever the client
-- asks: no statement runs longer than the client waits for it
-- (statement_timeout_ms: the functions' DB_STATEMENT_TIMEOUT_MS, 5000 as
-- theirs unless given), and no transaction is left open.
\if :{?statement_timeout_ms}
\else
\set statement_timeout_ms 5000
\endif
ALTER ROLE :"tenant_user" SET statement_timeout = :'statement_timeout_ms';
ALTER ROLE :"tenant_user" SET idle_in_transaction_session_timeout = '10s';
GRANT CONNECT ON DATABASE :"dbname" TO :"tenant_user";
GRANT USAGE ON SCHEMA public TO :"tenant_user";
-- Exactly what the routes need, nothing more: the API only reads a
-- tenant's metadata (so a tenant cannot raise its own tier, clear its status
-- or delete its row), and reads, creates and deletes records, never updates
-- them. The REVOKEs take back wider grants of earlier versions.
REVOKE ALL ON tenant_metadata, records FROM :"tenant_user";
GRANT SELECT ON tenant_metadata TO :"tenant_user";
GRANT SELECT, INSERT, DELETE ON records TO :"tenant_user";
-- Every tenant has a metadata row, 'active' until an operator says
-- otherwise: records are served only while it is (tenant_is_active).
INSERT INTO tenant_metadata (tenant_id, status) VALUES (:'tenant_user', 'active')
ON CONFLICT (tenant_id) DO NOTHING;
