-- Leases take the oldest ready jobs (ORDER BY seq LIMIT n). The first index on ready jobs led with
-- kind and visible_ms, so SQLite sorted every ready job of the tenant for each lease (a temporary
-- B-tree over the whole queue). This one walks a tenant's queued jobs in seq order and checks kind
-- and visibility from the index itself, stopping after n.
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (tenant_id, state, seq, kind, visible_ms);
