-- Plans and limits: channel leases and the calls admitted, per merchant
-- and mode (sandbox calls never use up live channels).
--
-- No foreign keys to verifications: a lease is taken before the
-- verification it is for is stored, so that a refused call stores nothing.
-- Admissions and lease takings run in IMMEDIATE transactions: SQLite's
-- one write lock makes them take turns, across processes too, so no table
-- of locks is needed here (PostgreSQL has limit_scopes for that).

-- A channel held by a verification's call, from before it is placed until
-- its final outcome. The holder renews it while the call lives; a lease
-- past expires_at is reclaimed (its arsgate died).
CREATE TABLE channel_leases (
    holder      TEXT    NOT NULL PRIMARY KEY,
    merchant_id TEXT    NOT NULL,
    mode        TEXT    NOT NULL CHECK (mode IN ('live', 'test')),
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX channel_leases_scope ON channel_leases (merchant_id, mode, expires_at);

-- Every admitted call, for the velocity limit (per number) and the daily
-- cap; rows older than both windows are pruned by later admissions.
CREATE TABLE call_attempts (
    merchant_id TEXT    NOT NULL,
    mode        TEXT    NOT NULL CHECK (mode IN ('live', 'test')),
    phone       TEXT    NOT NULL,
    at          INTEGER NOT NULL
) STRICT;

CREATE INDEX call_attempts_phone ON call_attempts (merchant_id, mode, phone, at);
CREATE INDEX call_attempts_scope ON call_attempts (merchant_id, mode, at);
