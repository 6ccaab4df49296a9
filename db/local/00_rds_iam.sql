-- Local stack only: Aurora has the rds_iam role built in. Members of it log
-- in with an IAM auth token (pg_hba.conf matches them with +rds_iam).
SELECT 'CREATE ROLE rds_iam NOLOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam')
\gexec
