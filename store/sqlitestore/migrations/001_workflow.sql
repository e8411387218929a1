-- Workflows: one per registry and type.
CREATE TABLE workflow (
    registry        TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    schedule        TEXT    NOT NULL,
    schedule_set_at INTEGER NOT NULL, -- unix microseconds, UTC
    policy          BLOB    NOT NULL,
    policy_digest   TEXT    NOT NULL,
    created_at      INTEGER NOT NULL, -- unix microseconds
    updated_at      INTEGER NOT NULL, -- unix microseconds
    PRIMARY KEY (registry, type)
) STRICT;
