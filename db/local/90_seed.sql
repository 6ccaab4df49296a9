-- Local stack only: the reference design's two tenants. The reference seeds
-- tenant2 'suspended' but never enforces it; here status is enforced (see
-- tenant_is_active in 01_schema.sql), so tenant2 is seeded active to keep two
-- tenants to serve and to tell apart, and the suspension test suspends and
-- reactivates a tenant itself.
INSERT INTO tenant_metadata (tenant_id, email, status, tier) VALUES
    ('tenant1_dbuser', 'tenant1@example.com', 'active', 'gold'),
    ('tenant2_dbuser', 'tenant2@example.com', 'active', 'silver')
ON CONFLICT (tenant_id) DO UPDATE
    SET email = EXCLUDED.email, status = EXCLUDED.status, tier = EXCLUDED.tier;

-- Local stack only: fixed records the events/ fixtures address by id.
-- Inserted with an explicit tenant_id by the local admin, a superuser, which
-- row-level security does not apply to.
INSERT INTO records (id, tenant_id, name, data, created_at) VALUES
    ('11111111-1111-4111-8111-111111111111', 'tenant1_dbuser', 'welcome', '{"plan": "gold"}', '2026-01-01T00:00:00Z'),
    ('11111111-1111-4111-8111-111111111112', 'tenant1_dbuser', 'to-delete', '{}', '2026-01-01T00:00:01Z'),
    ('22222222-2222-4222-8222-222222222221', 'tenant2_dbuser', 'welcome', '{"plan": "silver"}', '2026-01-01T00:00:00Z'),
    ('22222222-2222-4222-8222-222222222222', 'tenant2_dbuser', 'to-delete', '{}', '2026-01-01T00:00:01Z'),
    ('11111111-1111-4111-8111-111111111113', 'tenant1_dbuser', 'to-delete-v1', '{}', '2026-01-01T00:00:02Z'),
    ('22222222-2222-4222-8222-222222222223', 'tenant2_dbuser', 'to-delete-v1', '{}', '2026-01-01T00:00:02Z')
ON CONFLICT (id) DO NOTHING;
