-- arsgate's schema for PostgreSQL.
--
-- Instants are BIGINT milliseconds since the Unix epoch (UTC), exactly the
-- Timestamp arsgate carries, as in SQLite: both backends read back the
-- same values and no instant is out of a type's range (to read one by
-- hand: to_timestamp(created_at / 1000.0)). Ids are the UUID inside the
-- prefixed id (`vrf_...`). JSON values are jsonb.

CREATE TABLE merchants (
    id                 uuid   NOT NULL PRIMARY KEY,
    name               text   NOT NULL UNIQUE,
    webhook_secret     text   NOT NULL,
    code_ttl_ms        bigint NOT NULL,
    max_check_attempts bigint NOT NULL,
    created_at         bigint NOT NULL
);

CREATE TABLE api_keys (
    id          uuid   NOT NULL PRIMARY KEY,
    merchant_id uuid   NOT NULL REFERENCES merchants (id),
    mode        text   NOT NULL CHECK (mode IN ('live', 'test')),
    -- SHA-256 (hex) of the whole key; the key itself is never stored.
    hash        text   NOT NULL,
    created_at  bigint NOT NULL,
    revoked_at  bigint
);

CREATE INDEX api_keys_merchant ON api_keys (merchant_id);

CREATE TABLE verifications (
    id              uuid   NOT NULL PRIMARY KEY,
    merchant_id     uuid   NOT NULL REFERENCES merchants (id),
    mode            text   NOT NULL CHECK (mode IN ('live', 'test')),
    scenario        text   NOT NULL,
    phone           text   NOT NULL,
    language        text   NOT NULL,
    callback_url    text,
    -- Whether the merchant wants a webhook on answer too.
    notify_answered boolean NOT NULL DEFAULT false,
    customer_ref    text,
    metadata        jsonb  NOT NULL,
    fields          jsonb  NOT NULL,
    -- HMAC-SHA256 (hex) of the code under the server's secret.
    code_digest     text,
    code_expires_at bigint,
    created_at      bigint NOT NULL,
    -- The state machine: pending -> calling -> answered -> finished, and
    -- finished from any state; outcome is set exactly when finished.
    state           text   NOT NULL
        CHECK (state IN ('pending', 'calling', 'answered', 'finished')),
    outcome         text,
    reason          text,
    check_attempts  bigint NOT NULL DEFAULT 0,
    checked_at      bigint,
    call_id         text,
    node            text,
    timeline        jsonb  NOT NULL DEFAULT '[]',
    answered_at     bigint,
    finished_at     bigint,
    updated_at      bigint NOT NULL,
    CHECK ((state = 'finished') = (outcome IS NOT NULL))
);

-- Listing and usage: a merchant's verifications newest first.
CREATE INDEX verifications_merchant_created
    ON verifications (merchant_id, created_at DESC, id DESC);
-- Recovery after a restart reads only the few live ones.
CREATE INDEX verifications_unfinished
    ON verifications (created_at) WHERE state <> 'finished';

CREATE TABLE evidence (
    verification_id  uuid   NOT NULL PRIMARY KEY REFERENCES verifications (id),
    consent_text     text,
    pressed_key      text,
    key_at           bigint,
    recording_path   text,
    local_path       text,
    recording_sha256 text,
    recording_ms     bigint,
    saved_at         bigint NOT NULL
);

CREATE TABLE pins (
    merchant_id  uuid   NOT NULL REFERENCES merchants (id),
    customer_ref text   NOT NULL,
    -- argon2id PHC string.
    hash         text   NOT NULL,
    updated_at   bigint NOT NULL,
    PRIMARY KEY (merchant_id, customer_ref)
);

CREATE TABLE idempotency_keys (
    merchant_id     uuid   NOT NULL REFERENCES merchants (id),
    idempotency_key text   NOT NULL,
    request_hash    text   NOT NULL,
    -- 0 while the request that claimed the key is still running.
    status          bigint NOT NULL,
    body            text   NOT NULL,
    created_at      bigint NOT NULL,
    PRIMARY KEY (merchant_id, idempotency_key)
);

-- The webhook outbox.
CREATE TABLE webhook_deliveries (
    id              uuid   NOT NULL PRIMARY KEY,
    merchant_id     uuid   NOT NULL REFERENCES merchants (id),
    verification_id uuid   NOT NULL REFERENCES verifications (id),
    url             text   NOT NULL,
    event_type      text   NOT NULL,
    payload         text   NOT NULL,
    created_at      bigint NOT NULL,
    state           text   NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        bigint NOT NULL DEFAULT 0,
    -- Pending: when the next attempt is due; a claim pushes it to the end
    -- of the claimer's lease.
    next_attempt_at bigint NOT NULL,
    last_status     bigint,
    last_error      text,
    delivered_at    bigint
);

-- Claims: only pending deliveries, by due time.
CREATE INDEX webhook_deliveries_due
    ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_merchant_created
    ON webhook_deliveries (merchant_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_verification
    ON webhook_deliveries (verification_id);
