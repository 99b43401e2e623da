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

-- PINs: one per customer and mode.
--
-- Every existing PIN becomes live. Until now one PIN per customer served
-- both modes and live enter_pin calls checked it: whichever key set it
-- last, it is the PIN real customers are asked for today, so moving it to
-- the sandbox would fail every live enter_pin with pin_not_registered. It
-- is not copied to the sandbox either: a sandbox key must not reach a live
-- customer's PIN, and a copy would let sandbox calls (whose simulated
-- phone presses whatever the merchant scripts) try guesses against it.
-- Merchants who used PINs in the sandbox register them again with their
-- test key.
ALTER TABLE pins ADD COLUMN mode text NOT NULL DEFAULT 'live'
    CHECK (mode IN ('live', 'test'));
ALTER TABLE pins ALTER COLUMN mode DROP DEFAULT;
ALTER TABLE pins DROP CONSTRAINT pins_pkey,
    ADD PRIMARY KEY (merchant_id, mode, customer_ref);

-- Idempotency keys: one per value and mode.
--
-- An existing key is copied into both modes: which mode sent it is not
-- kept, but it is hashed into request_hash, so a retry from the mode that
-- sent it still gets its stored response, and one from the other mode
-- still gets idempotency_conflict (the hash differs), exactly as before
-- the upgrade. Only new keys are separate.
ALTER TABLE idempotency_keys ADD COLUMN mode text NOT NULL DEFAULT 'live'
    CHECK (mode IN ('live', 'test'));
ALTER TABLE idempotency_keys ALTER COLUMN mode DROP DEFAULT;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey,
    ADD PRIMARY KEY (merchant_id, mode, idempotency_key);
INSERT INTO idempotency_keys (merchant_id, mode, idempotency_key, request_hash, status,
                              body, created_at)
    SELECT merchant_id, 'test', idempotency_key, request_hash, status, body, created_at
    FROM idempotency_keys;

-- Webhook deliveries: in their verification's mode (always), which is
-- known for every existing one.
ALTER TABLE webhook_deliveries ADD COLUMN mode text;
UPDATE webhook_deliveries AS d SET mode = v.mode
    FROM verifications AS v WHERE v.id = d.verification_id;
ALTER TABLE webhook_deliveries ALTER COLUMN mode SET NOT NULL,
    ADD CHECK (mode IN ('live', 'test'));
-- Listing: a merchant's deliveries of one mode, newest first.
DROP INDEX webhook_deliveries_merchant_created;
CREATE INDEX webhook_deliveries_merchant_created
    ON webhook_deliveries (merchant_id, mode, created_at DESC, id DESC);

-- The check attempts a verification allows, fixed when it is created.
-- Existing verifications keep the limit they have been judged by so far:
-- their merchant's setting now.
ALTER TABLE verifications ADD COLUMN max_check_attempts bigint;
UPDATE verifications AS v SET max_check_attempts = m.max_check_attempts
    FROM merchants AS m WHERE m.id = v.merchant_id;
ALTER TABLE verifications ALTER COLUMN max_check_attempts SET NOT NULL;
