-- Device keys the service made for jobs enqueued by profile (as in the SQLite migration of the
-- same number): the PKCS#8 private key (PEM) that opens the job's encrypted PFX password,
-- written in the transaction that writes its jobs, and gone with its job.
CREATE TABLE job_device_keys (
    job_id          TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    tenant_id       TEXT COLLATE "C" NOT NULL,
    private_key_pem TEXT NOT NULL
);
