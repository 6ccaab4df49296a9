-- Shared schema of the tenant database. Idempotent: safe to run again.
-- Run as the database owner (the cluster's master user on Aurora).

-- Tenants reach this database only through their own login roles; nobody
-- else may connect or create objects.
DO $$ BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
END $$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Tenant metadata, as in the reference design. tenant_id holds the tenant's
-- DB user, which is what row-level security compares with current_user.
CREATE TABLE IF NOT EXISTS tenant_metadata (
    tenant_id VARCHAR(63) PRIMARY KEY,
    email     VARCHAR(254) UNIQUE,
    status    VARCHAR(10) CHECK (status IN ('active', 'suspended', 'disabled')),
    tier      VARCHAR(10) CHECK (tier IN ('gold', 'silver', 'bronze'))
);

-- Row-level security: ENABLE applies it to tenant roles; FORCE applies it to
-- the table owner too, so no login but a superuser or BYPASSRLS role (neither
-- of which a tenant is) sees another tenant's rows.
ALTER TABLE tenant_metadata ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_metadata FORCE ROW LEVEL SECURITY;

-- One policy for reads and writes: USING filters the rows a statement can
-- see, update or delete; WITH CHECK refuses inserted or updated rows that
-- would belong to another tenant.
DROP POLICY IF EXISTS tenant_isolation_policy ON tenant_metadata;
CREATE POLICY tenant_isolation_policy ON tenant_metadata
    FOR ALL
    USING (tenant_id = current_user)
    WITH CHECK (tenant_id = current_user);

-- Records: what tenants read and write through the API. Every statement runs
-- as the tenant's own login, and the API never filters on tenant_id: the
-- column defaults to current_user on insert and the policy below does the
-- rest. ids are random, so they reveal nothing about other tenants' activity,
-- and names are unique per tenant only, so a name clash never reveals that
-- another tenant uses the same name.
CREATE TABLE IF NOT EXISTS records (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  VARCHAR(63) NOT NULL DEFAULT current_user,
    name       VARCHAR(200) NOT NULL CHECK (length(name) > 0),
    data       JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(data) = 'object'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
-- Keyset pagination walks (created_at, id) within one tenant.
CREATE INDEX IF NOT EXISTS records_tenant_page ON records (tenant_id, created_at, id);

-- Suspension, enforced where a code bug cannot skip it: true when the
-- caller's own tenant_metadata row is 'active', else an error with a SQLSTATE
-- of its own, which the functions answer as 403 tenant_suspended (TA001) or
-- 403 tenant_not_onboarded (TA002, no row). It runs with the caller's rights
-- (not SECURITY DEFINER): the caller sees only its own row through the
-- policy above, so it learns nothing about any other tenant.
CREATE OR REPLACE FUNCTION tenant_is_active() RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, public
AS $$
DECLARE
    tenant_status text;
BEGIN
    SELECT status INTO tenant_status FROM public.tenant_metadata WHERE tenant_id = current_user;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'this tenant has no tenant_metadata row' USING ERRCODE = 'TA002';
    END IF;
    IF tenant_status IS DISTINCT FROM 'active' THEN
        RAISE EXCEPTION 'this tenant is %', coalesce(tenant_status, 'not active') USING ERRCODE = 'TA001';
    END IF;
    RETURN true;
END
$$;

-- A tenant's records are reachable only while the tenant is active. The
-- guard is a sub-select, so Postgres evaluates it once per statement (an
-- InitPlan), not per row; a status change applies to the next statement,
-- pooled connections included.
ALTER TABLE records ENABLE ROW LEVEL SECURITY;
ALTER TABLE records FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS records_isolation_policy ON records;
CREATE POLICY records_isolation_policy ON records
    FOR ALL
    USING (tenant_id = current_user AND (SELECT tenant_is_active()))
    WITH CHECK (tenant_id = current_user AND (SELECT tenant_is_active()));

-- The schema's owner (the cluster's master user, who runs this file and
-- the functions below) reads and writes every row: FORCE ROW LEVEL
-- SECURITY applies the tenant policies to the owner too, and Aurora's
-- master user does not bypass them. Tenants never match these policies:
-- they are for the role running this file only.
DO $$ BEGIN
    EXECUTE 'DROP POLICY IF EXISTS owner_administers ON tenant_metadata';
    EXECUTE format('CREATE POLICY owner_administers ON tenant_metadata FOR ALL TO %I USING (true) WITH CHECK (true)', current_user);
    EXECUTE 'DROP POLICY IF EXISTS owner_administers ON records';
    EXECUTE format('CREATE POLICY owner_administers ON records FOR ALL TO %I USING (true) WITH CHECK (true)', current_user);
END $$;

-- Onboarding and offboarding, in one place for every caller: psql
-- (db/tenant.sql, db/tenant_remove.sql) and the db-admin function that
-- `cargo xtask tenant add|remove --aws` invokes inside the VPC. Both are
-- idempotent, run with the caller's rights (the database owner's), and
-- may be run by nobody else.
--
-- Every tenant id ever offboarded, kept for good (a purge keeps it too):
-- an id is never given to another customer, who would otherwise inherit the
-- old tenant's rows, objects, items and key. No tenant login may read it.
CREATE TABLE IF NOT EXISTS offboarded_tenants (
    tenant_id     VARCHAR(63) PRIMARY KEY,
    offboarded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
REVOKE ALL ON offboarded_tenants FROM PUBLIC;
-- Tenants offboarded before this table existed: their rows say so.
INSERT INTO offboarded_tenants (tenant_id)
    SELECT tenant_id FROM tenant_metadata WHERE status = 'disabled'
    ON CONFLICT (tenant_id) DO NOTHING;

-- onboard_tenant: the tenant's login, which can log in only through IAM
-- authentication (rds_iam), owns nothing, cannot bypass row-level
-- security, and holds only the table privileges the RLS policy is written
-- for; the server's own bounds on its sessions, whatever the client asks
-- (no statement longer than the client waits for it, no transaction left
-- open); and its metadata row, 'active' until an operator says otherwise.
CREATE OR REPLACE FUNCTION onboard_tenant(tenant_user text, statement_timeout_ms integer DEFAULT 5000)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
AS $$
BEGIN
    -- An id once offboarded is never onboarded again.
    IF EXISTS (SELECT 1 FROM offboarded_tenants WHERE tenant_id = tenant_user) THEN
        RAISE EXCEPTION 'tenant % was offboarded: a tenant id is never reused (choose a new id)',
            tenant_user USING ERRCODE = 'TA003';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = tenant_user) THEN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS', tenant_user);
    END IF;
    -- Aurora's master user is no superuser: it may not name SUPERUSER or
    -- BYPASSRLS in an ALTER ROLE, so a login that has either is refused.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = tenant_user AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'login % may bypass row-level security: not onboarded', tenant_user;
    END IF;
    EXECUTE format('ALTER ROLE %I LOGIN NOCREATEDB NOCREATEROLE', tenant_user);
    EXECUTE format('GRANT rds_iam TO %I', tenant_user);
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', tenant_user, statement_timeout_ms);
    EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', tenant_user, '10s');
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), tenant_user);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', tenant_user);
    -- Exactly what the routes need, nothing more: the API only reads a
    -- tenant's metadata (so a tenant cannot raise its own tier, clear its
    -- status or delete its row), and reads, creates and deletes records,
    -- never updates them. The REVOKE takes back wider grants of earlier
    -- versions.
    EXECUTE format('REVOKE ALL ON tenant_metadata, records FROM %I', tenant_user);
    EXECUTE format('GRANT SELECT ON tenant_metadata TO %I', tenant_user);
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON records TO %I', tenant_user);
    -- Onboarding again keeps an existing row: a suspended tenant stays
    -- suspended (an operator's decision).
    INSERT INTO tenant_metadata (tenant_id, status) VALUES (tenant_user, 'active')
    ON CONFLICT (tenant_id) DO NOTHING;
END
$$;

-- offboard_tenant: the login refused at once (NOLOGIN) and its open
-- sessions ended; its privileges revoked and the role dropped. Its metadata
-- row is marked 'disabled', so row-level security serves nothing even to a
-- login created again by mistake. Its records are kept, unless purge. Its
-- id is recorded in offboarded_tenants for good, purge or not.
CREATE OR REPLACE FUNCTION offboard_tenant(tenant_user text, purge boolean DEFAULT false)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = tenant_user) THEN
        EXECUTE format('ALTER ROLE %I NOLOGIN', tenant_user);
        PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = tenant_user;
        EXECUTE format('REVOKE ALL ON tenant_metadata, records FROM %I', tenant_user);
        EXECUTE format('REVOKE USAGE ON SCHEMA public FROM %I', tenant_user);
        EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM %I', current_database(), tenant_user);
        EXECUTE format('DROP ROLE %I', tenant_user);
    END IF;
    UPDATE tenant_metadata SET status = 'disabled' WHERE tenant_id = tenant_user;
    INSERT INTO offboarded_tenants (tenant_id) VALUES (tenant_user)
        ON CONFLICT (tenant_id) DO NOTHING;
    IF purge THEN
        DELETE FROM records WHERE tenant_id = tenant_user;
        DELETE FROM tenant_metadata WHERE tenant_id = tenant_user;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION onboard_tenant(text, integer), offboard_tenant(text, boolean) FROM PUBLIC;
