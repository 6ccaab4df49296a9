-- Local stack only: the cluster's master user as Aurora has it, so that
-- db-admin and db/*.sql run locally with no more power than on AWS: a
-- login that may create roles, owns the database and the schema, signals
-- backends and grants rds_iam (rds_superuser's powers that they use), but
-- is no superuser and does not bypass row-level security. The stack's own
-- superuser (stack_admin) stays for the tests that look behind RLS.
-- STACK_MASTER_PASSWORD=... psql -f db/local/10_master.sql
\getenv master_password STACK_MASTER_PASSWORD
SELECT 'CREATE ROLE saas_admin LOGIN NOSUPERUSER CREATEROLE NOBYPASSRLS'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'saas_admin')
\gexec
ALTER ROLE saas_admin LOGIN NOSUPERUSER CREATEROLE NOBYPASSRLS PASSWORD :'master_password';
GRANT pg_signal_backend TO saas_admin;
GRANT rds_iam TO saas_admin WITH ADMIN OPTION;
SELECT format('ALTER DATABASE %I OWNER TO saas_admin', current_database())
\gexec
-- Objects a stack older than this role made as stack_admin.
ALTER TABLE IF EXISTS tenant_metadata OWNER TO saas_admin;
ALTER TABLE IF EXISTS records OWNER TO saas_admin;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT oid::regprocedure FROM pg_proc
             WHERE pronamespace = 'public'::regnamespace
               AND proname IN ('tenant_is_active', 'onboard_tenant', 'offboard_tenant')
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO saas_admin', f);
    END LOOP;
END $$;
