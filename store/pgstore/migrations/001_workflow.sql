-- Workflows: one per registry and type.
CREATE TABLE IF NOT EXISTS patchloop_workflow (
    registry        TEXT   NOT NULL,
    type            TEXT   NOT NULL,
    schedule        TEXT   NOT NULL,
    schedule_set_at BIGINT NOT NULL, -- unix microseconds, UTC
    policy          BYTEA  NOT NULL,
    policy_digest   TEXT   NOT NULL,
    created_at      BIGINT NOT NULL, -- unix microseconds
    updated_at      BIGINT NOT NULL, -- unix microseconds
    PRIMARY KEY (registry, type)
);
