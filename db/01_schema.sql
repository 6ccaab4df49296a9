-- Shared schema of the tenant database. Idempotent: safe to run again.
-- Run as the database owner (the cluster's master user on Aurora).

-- Tenants reach this database only through their own login roles; nobody
-- else may connect or create objects.
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
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

ALTER TABLE records ENABLE ROW LEVEL SECURITY;
ALTER TABLE records FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS records_isolation_policy ON records;
CREATE POLICY records_isolation_policy ON records
    FOR ALL
    USING (tenant_id = current_user)
    WITH CHECK (tenant_id = current_user);
