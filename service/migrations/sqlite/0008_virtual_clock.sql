-- The virtual clock, shared by every process on this database: one row, epoch milliseconds.
-- Replicas read it before each request; a restart on the same database continues from it.
CREATE TABLE virtual_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    now_ms BIGINT NOT NULL
);
