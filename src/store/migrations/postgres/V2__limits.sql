-- Plans and limits: channel leases and the calls admitted, per merchant
-- and mode (sandbox calls never use up live channels).
--
-- No foreign keys to verifications: a lease is taken before the
-- verification it is for is stored, so that a refused call stores nothing.

-- One row per merchant and mode, locked (FOR UPDATE) by every admission
-- and lease taken in that scope: they take turns, across replicas, so a
-- count read under the lock stays true until the transaction commits.
CREATE TABLE limit_scopes (
    merchant_id uuid NOT NULL,
    mode        text NOT NULL CHECK (mode IN ('live', 'test')),
    PRIMARY KEY (merchant_id, mode)
);

-- A channel held by a verification's call, from before it is placed until
-- its final outcome. The holder renews it while the call lives; a lease
-- past expires_at is reclaimed (its arsgate died).
CREATE TABLE channel_leases (
    holder      uuid   NOT NULL PRIMARY KEY,
    merchant_id uuid   NOT NULL,
    mode        text   NOT NULL CHECK (mode IN ('live', 'test')),
    acquired_at bigint NOT NULL,
    expires_at  bigint NOT NULL
);

CREATE INDEX channel_leases_scope ON channel_leases (merchant_id, mode, expires_at);

-- Every admitted call, for the velocity limit (per number) and the daily
-- cap; rows older than both windows are pruned by later admissions.
CREATE TABLE call_attempts (
    merchant_id uuid   NOT NULL,
    mode        text   NOT NULL CHECK (mode IN ('live', 'test')),
    phone       text   NOT NULL,
    at          bigint NOT NULL
);

CREATE INDEX call_attempts_phone ON call_attempts (merchant_id, mode, phone, at);
CREATE INDEX call_attempts_scope ON call_attempts (merchant_id, mode, at);
