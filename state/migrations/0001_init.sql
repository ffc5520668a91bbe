-- 0001: the initial schema. Every timestamp is UTC text in a fixed-width
-- RFC 3339 form with nanoseconds ("2006-01-02T15:04:05.000000000Z"), so
-- text order is time order. Nothing here holds an URL or a credential: the
-- virtpos apikey lives only in the config/environment.

CREATE TABLE checkpoints (
    job             TEXT PRIMARY KEY,
    cursor          TEXT NOT NULL DEFAULT '',
    last_success_at TEXT NOT NULL DEFAULT '',
    updated_at      TEXT NOT NULL
);

CREATE TABLE records (
    job        TEXT NOT NULL,
    key        TEXT NOT NULL,
    version    TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (job, key)
) WITHOUT ROWID;

CREATE TABLE idmap (
    kind       TEXT NOT NULL,
    ref        TEXT NOT NULL,
    remote_id  TEXT NOT NULL,
    extra      TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, ref)
) WITHOUT ROWID;

-- Reverse lookups (virtpos id -> 1C ref) happen when orders point at customers.
CREATE INDEX idmap_remote ON idmap (kind, remote_id);

CREATE TABLE intents (
    job        TEXT NOT NULL,
    key        TEXT NOT NULL,
    op         TEXT NOT NULL,
    payload    BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (job, key)
) WITHOUT ROWID;

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    subject    TEXT NOT NULL,
    data       BLOB NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE dead_letters (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    job             TEXT NOT NULL,
    key             TEXT NOT NULL,
    reason          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    payload         BLOB,
    first_failed_at TEXT NOT NULL,
    last_failed_at  TEXT NOT NULL,
    status          TEXT NOT NULL,
    UNIQUE (job, key)
);

CREATE INDEX dead_letters_status ON dead_letters (status, job);

CREATE TABLE holds (
    job      TEXT NOT NULL,
    key      TEXT NOT NULL,
    reason   TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    first_at TEXT NOT NULL,
    last_at  TEXT NOT NULL,
    PRIMARY KEY (job, key)
) WITHOUT ROWID;

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    job         TEXT NOT NULL,
    mode        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL,
    created     INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    deleted     INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    held        INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT ''
);

CREATE INDEX runs_job ON runs (job, id);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE leases (
    job         TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    host        TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
