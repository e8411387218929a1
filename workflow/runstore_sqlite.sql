-- Task runs, their logs and the cycles they belong to (SQLite).
CREATE TABLE IF NOT EXISTS patchloop_run (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow    TEXT    NOT NULL,
    task        TEXT    NOT NULL,
    image       TEXT    NOT NULL DEFAULT '',
    cycle       TEXT    NOT NULL,
    job_id      BIGINT  NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL,
    attempt     INTEGER NOT NULL DEFAULT 0,
    reason      TEXT    NOT NULL DEFAULT '',
    result      TEXT    NOT NULL DEFAULT '{}',
    created_at  BIGINT  NOT NULL,
    started_at  BIGINT  NOT NULL DEFAULT 0,
    finished_at BIGINT  NOT NULL DEFAULT 0,
    UNIQUE (workflow, task, image, cycle)
);
CREATE INDEX IF NOT EXISTS patchloop_run_latest ON patchloop_run (workflow, task, image, id);
CREATE INDEX IF NOT EXISTS patchloop_run_status ON patchloop_run (status, id);
CREATE TABLE IF NOT EXISTS patchloop_run_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id BIGINT  NOT NULL,
    data   BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS patchloop_run_log_run ON patchloop_run_log (run_id, id);
CREATE TABLE IF NOT EXISTS patchloop_run_cycle (
    workflow   TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    slot       BIGINT  NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    canceled   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workflow, id)
);
