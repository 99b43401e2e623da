-- arsgate's schema for SQLite.
--
-- Instants are INTEGER milliseconds since the Unix epoch (UTC). Ids are the
-- UUID inside the prefixed id (`vrf_...`), as lowercase hyphenated TEXT,
-- which sorts like PostgreSQL's uuid so both backends page alike. JSON
-- values are TEXT. STRICT tables refuse a value of the wrong type.

CREATE TABLE merchants (
    id                 TEXT    NOT NULL PRIMARY KEY,
    name               TEXT    NOT NULL UNIQUE,
    webhook_secret     TEXT    NOT NULL,
    code_ttl_ms        INTEGER NOT NULL,
    max_check_attempts INTEGER NOT NULL,
    created_at         INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    merchant_id TEXT    NOT NULL REFERENCES merchants (id),
    mode        TEXT    NOT NULL CHECK (mode IN ('live', 'test')),
    -- SHA-256 (hex) of the whole key; the key itself is never stored.
    hash        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX api_keys_merchant ON api_keys (merchant_id);

CREATE TABLE verifications (
    id              TEXT    NOT NULL PRIMARY KEY,
    merchant_id     TEXT    NOT NULL REFERENCES merchants (id),
    mode            TEXT    NOT NULL CHECK (mode IN ('live', 'test')),
    scenario        TEXT    NOT NULL,
    phone           TEXT    NOT NULL,
    language        TEXT    NOT NULL,
    callback_url    TEXT,
    -- 1 if the merchant wants a webhook on answer too.
    notify_answered INTEGER NOT NULL DEFAULT 0 CHECK (notify_answered IN (0, 1)),
    customer_ref    TEXT,
    metadata        TEXT    NOT NULL,
    fields          TEXT    NOT NULL,
    -- HMAC-SHA256 (hex) of the code under the server's secret.
    code_digest     TEXT,
    code_expires_at INTEGER,
    created_at      INTEGER NOT NULL,
    -- The state machine: pending -> calling -> answered -> finished, and
    -- finished from any state; outcome is set exactly when finished.
    state           TEXT    NOT NULL
        CHECK (state IN ('pending', 'calling', 'answered', 'finished')),
    outcome         TEXT,
    reason          TEXT,
    check_attempts  INTEGER NOT NULL DEFAULT 0,
    checked_at      INTEGER,
    call_id         TEXT,
    node            TEXT,
    timeline        TEXT    NOT NULL DEFAULT '[]',
    answered_at     INTEGER,
    finished_at     INTEGER,
    updated_at      INTEGER NOT NULL,
    CHECK ((state = 'finished') = (outcome IS NOT NULL))
) STRICT;

-- Listing and usage: a merchant's verifications newest first.
CREATE INDEX verifications_merchant_created
    ON verifications (merchant_id, created_at DESC, id DESC);
-- Recovery after a restart reads only the few live ones.
CREATE INDEX verifications_unfinished
    ON verifications (created_at) WHERE state <> 'finished';

CREATE TABLE evidence (
    verification_id  TEXT    NOT NULL PRIMARY KEY REFERENCES verifications (id),
    consent_text     TEXT,
    pressed_key      TEXT,
    key_at           INTEGER,
    recording_path   TEXT,
    local_path       TEXT,
    recording_sha256 TEXT,
    recording_ms     INTEGER,
    saved_at         INTEGER NOT NULL
) STRICT;

CREATE TABLE pins (
    merchant_id  TEXT    NOT NULL REFERENCES merchants (id),
    customer_ref TEXT    NOT NULL,
    -- argon2id PHC string.
    hash         TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, customer_ref)
) STRICT;

CREATE TABLE idempotency_keys (
    merchant_id     TEXT    NOT NULL REFERENCES merchants (id),
    idempotency_key TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    -- 0 while the request that claimed the key is still running.
    status          INTEGER NOT NULL,
    body            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, idempotency_key)
) STRICT;

-- The webhook outbox.
CREATE TABLE webhook_deliveries (
    id              TEXT    NOT NULL PRIMARY KEY,
    merchant_id     TEXT    NOT NULL REFERENCES merchants (id),
    verification_id TEXT    NOT NULL REFERENCES verifications (id),
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

-- Claims: only pending deliveries, by due time.
CREATE INDEX webhook_deliveries_due
    ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_merchant_created
    ON webhook_deliveries (merchant_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_verification
    ON webhook_deliveries (verification_id);
