-- 0002: listings of remote records, for bulk adoption. When a run must
-- find many 1C records in virtpos, it lists virtpos once and keeps here,
-- for each 1C reference found, the virtpos id: references and ids only,
-- never a customer's personal data. A run reads only the rows it wrote
-- itself (run_id), so a listing left by an earlier run, complete or not,
-- never passes for the current one.

CREATE TABLE listed (
    kind      TEXT NOT NULL,
    ref       TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    run_id    TEXT NOT NULL,
    PRIMARY KEY (kind, ref)
) WITHOUT ROWID;
