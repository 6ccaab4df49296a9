-- Local stack only: the reference design's two tenants.
INSERT INTO tenant_metadata (tenant_id, email, status, tier) VALUES
    ('tenant1_dbuser', 'tenant1@example.com', 'active', 'gold'),
    ('tenant2_dbuser', 'tenant2@example.com', 'suspended', 'silver')
ON CONFLICT (tenant_id) DO NOTHING;
