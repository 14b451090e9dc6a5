-- An attempt is looked up by its job and lease token together (every caller knows the job), which
-- the primary key (job_id, attempt) serves. The index on the token hash alone goes: a token hash is
-- random, so each lease of 100 jobs inserted into about 100 random pages of it, and with SQLite
-- each of those pages is written to the WAL again at every commit.
DROP INDEX job_attempts_by_token;
