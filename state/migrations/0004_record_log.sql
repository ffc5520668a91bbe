-- 0004: each record's story, for `virtsync explain`. One row per outcome
-- a run committed for a record (created, updated, deleted, skipped,
-- failed, held), written in the transaction of that outcome, with the ids
-- and types of the events it published (a JSON array) and a fingerprint
-- of what was pushed: a keyed hash, never a value. Only the newest
-- RecordLogKeep (20) rows of a record are kept: the engine drops older
-- ones as it adds a row.

CREATE TABLE record_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job         TEXT NOT NULL,
    key         TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    result      TEXT NOT NULL,
    at          TEXT NOT NULL,
    events      TEXT NOT NULL DEFAULT '[]',
    fingerprint TEXT NOT NULL DEFAULT ''
);

CREATE INDEX record_log_key ON record_log (job, key, id);

-- Keys the store makes for itself. 'fingerprint' is the HMAC-SHA256 key
-- of the fingerprints above, made at random on first use: a fingerprint
-- shown in `explain` or a support ticket cannot be tried against guessed
-- phone numbers without this store.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
