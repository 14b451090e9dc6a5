-- The indexes that find work hold only the jobs that are live. Before, every job stayed in
-- `jobs_ready` and `jobs_leased` for good, and each change of state moved its entry in both
-- (a delete and an insert in each, at a lease and again at a completion), in indexes that grew
-- with every job ever queued. Now a lease takes a job out of `jobs_ready` and puts it into
-- `jobs_leased`, a completion takes it out: the two indexes stay as small as the live queue.
-- Listing a tenant's jobs in queue order uses `jobs_by_tenant`, which no update touches.
DROP INDEX jobs_ready;
DROP INDEX jobs_leased;
CREATE INDEX jobs_ready ON jobs (tenant_id, seq, kind, visible_ms) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_expires_ms) WHERE state = 'leased';
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, seq);
