-- +goose Up
-- Every chunk a Phase 2 request signalled, with its indexes (flattened
-- [start, end) pairs). A later request of the same batch skips them even
-- when the workflow cannot answer its accepted-index query in time, so a
-- re-sent stream counts exactly what is new whatever the lag.
CREATE TABLE batch_chunks (
    batch_id text      NOT NULL,
    stream   text      NOT NULL,
    seq      integer   NOT NULL,
    ranges   integer[] NOT NULL,
    PRIMARY KEY (batch_id, stream, seq)
);

-- +goose Down
DROP TABLE batch_chunks;
