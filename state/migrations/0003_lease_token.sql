-- 0003: fencing tokens. A lease row now outlives its release (owner ''),
-- and token grows by one each time the lease is acquired anew, so a write
-- checked against the token it was started with fails once another
-- process took the job over, even if that one has released it since.

ALTER TABLE leases ADD COLUMN token BIGINT NOT NULL DEFAULT 0;
