-- Device keys the service made for jobs enqueued by profile without a device key certificate
-- (docs/behaviour.md, "Request queues and routing"): the PKCS#8 private key (PEM) that opens the
-- job's encrypted PFX password, served to the operator. One call makes one key, so its jobs
-- share it. A key is written in the transaction that writes its jobs, and goes with its job.
CREATE TABLE job_device_keys (
    job_id          TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    private_key_pem TEXT NOT NULL
);
