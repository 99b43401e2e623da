-- Sandbox and live are two worlds for PINs, webhook deliveries and
-- idempotency keys, as they already are for verifications and limits: each
-- row carries its mode, and every merchant-facing read and write names the
-- mode of the key that makes it. And a verification keeps the number of
-- check attempts it allows from its creation, as it keeps its code's
-- expiry, so that changing the merchant's setting never unlocks a locked
-- code.
--
-- Unlike the other migrations, this one does not keep older binaries
-- working: PINs and idempotency keys are no longer unique without their
-- mode, so an older binary's writes of them (and of deliveries, which it
-- stores without a mode) fail. Upgrading past it stops every replica first
-- (README, Upgrades).
--
-- The three tables are rebuilt (SQLite cannot change a primary key, nor
-- add a NOT NULL column without a default); nothing references them.

-- PINs: one per customer and mode.
CREATE TABLE pins_by_mode (
    merchant_id  TEXT    NOT NULL REFERENCES merchants (id),
    mode         TEXT    NOT NULL CHECK (mode IN ('live', 'test')),
    customer_ref TEXT    NOT NULL,
    -- argon2id PHC string.
    hash         TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, mode, customer_ref)
) STRICT;

-- Every existing PIN becomes live. Until now one PIN per customer served
-- both modes and live enter_pin calls checked it: whichever key set it
-- last, it is the PIN real customers are asked for today, so moving it to
-- the sandbox would fail every live enter_pin with pin_not_registered. It
-- is not copied to the sandbox either: a sandbox key must not reach a live
-- customer's PIN, and a copy would let sandbox calls (whose simulated
-- phone presses whatever the merchant scripts) try guesses against it.
-- Merchants who used PINs in the sandbox register them again with their
-- test key.
INSERT INTO pins_by_mode (merchant_id, mode, customer_ref, hash, updated_at)
    SELECT merchant_id, 'live', customer_ref, hash, updated_at FROM pins;
DROP TABLE pins;
ALTER TABLE pins_by_mode RENAME TO pins;

-- Idempotency keys: one per value and mode.
CREATE TABLE idempotency_keys_by_mode (
    merchant_id     TEXT    NOT NULL REFERENCES merchants (id),
    mode            TEXT    NOT NULL CHECK (mode IN ('live', 'test')),
    idempotency_key TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    -- 0 while the request that claimed the key is still running.
    status          INTEGER NOT NULL,
    body            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, mode, idempotency_key)
) STRICT;

-- An existing key is copied into both modes: which mode sent it is not
-- kept, but it is hashed into request_hash, so a retry from the mode that
-- sent it still gets its stored response, and one from the other mode
-- still gets idempotency_conflict (the hash differs), exactly as before
-- the upgrade. Only new keys are separate.
INSERT INTO idempotency_keys_by_mode (merchant_id, mode, idempotency_key, request_hash,
                                      status, body, created_at)
    SELECT merchant_id, m.mode, idempotency_key, request_hash, status, body, created_at
    FROM idempotency_keys, (SELECT 'live' AS mode UNION ALL SELECT 'test') AS m;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_by_mode RENAME TO idempotency_keys;

-- Webhook deliveries: in their verification's mode, which is known for
-- every existing one.
CREATE TABLE webhook_deliveries_by_mode (
    id              TEXT    NOT NULL PRIMARY KEY,
    merchant_id     TEXT    NOT NULL REFERENCES merchants (id),
    verification_id TEXT    NOT NULL REFERENCES verifications (id),
    -- Always its verification's mode.
    mode            TEXT    NOT NULL CHECK (mode IN ('live', 'test')),
    url             TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Pending: when the next attempt is due; a claim pushes it to the end
    -- of the claimer's lease.
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER
) STRICT;

INSERT INTO webhook_deliveries_by_mode (id, merchant_id, verification_id, mode, url,
        event_type, payload, created_at, state, attempts, next_attempt_at, last_status,
        last_error, delivered_at)
    SELECT d.id, d.merchant_id, d.verification_id, v.mode, d.url, d.event_type, d.payload,
           d.created_at, d.state, d.attempts, d.next_attempt_at, d.last_status,
           d.last_error, d.delivered_at
    FROM webhook_deliveries AS d JOIN verifications AS v ON v.id = d.verification_id;
DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_by_mode RENAME TO webhook_deliveries;

-- Claims: only pending deliveries, by due time.
CREATE INDEX webhook_deliveries_due
    ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
-- Listing: a merchant's deliveries of one mode, newest first.
CREATE INDEX webhook_deliveries_merchant_created
    ON webhook_deliveries (merchant_id, mode, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_verification
    ON webhook_deliveries (verification_id);

-- The check attempts a verification allows, fixed when it is created.
-- SQLite adds a NOT NULL column only with a default: 0 allows no attempt,
-- so a row ever stored without its limit would be locked, not open. Every
-- insert names the column.
ALTER TABLE verifications ADD COLUMN max_check_attempts INTEGER NOT NULL DEFAULT 0;
-- Existing verifications keep the limit they have been judged by so far:
-- their merchant's setting now.
UPDATE verifications SET max_check_attempts =
    (SELECT m.max_check_attempts FROM merchants AS m WHERE m.id = verifications.merchant_id);
