-- The indexes that find work hold only the jobs that are live (as in the SQLite migration of the
-- same number): a lease takes a job out of `jobs_ready` and puts it into `jobs_leased`, a
-- completion takes it out, instead of every change of state moving an entry in both indexes for
-- good. Listing a tenant's jobs in queue order uses `jobs_by_tenant`, which no update touches.
DROP INDEX jobs_ready;
DROP INDEX jobs_leased;
CREATE INDEX jobs_ready ON jobs (tenant_id, seq, kind, visible_ms) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_expires_ms) WHERE state = 'leased';
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, seq);
