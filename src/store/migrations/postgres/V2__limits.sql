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

-- Admissions and lease takings run as functions, one statement each: the
-- scope's lock is then held only while the server runs them, not across
-- round trips to arsgate, so one merchant's admissions pass as fast as
-- the server can run them. (PL/pgSQL statements of a VOLATILE function
-- each take a fresh snapshot: what they read after the lock is what the
-- previous holder committed.)

-- Locks the scope's row, made on first use, until the transaction ends.
-- The transaction then commits without waiting for its WAL to reach the
-- disk: the synchronous commit that stores the verification afterwards
-- flushes the admission with it (the WAL is written in order), so a
-- database crash can lose only admissions whose verifications were never
-- stored, and the lock is never held for a disk flush.
CREATE FUNCTION arsgate_lock_scope(p_merchant uuid, p_mode text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM 1 FROM limit_scopes WHERE merchant_id = p_merchant AND mode = p_mode FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO limit_scopes (merchant_id, mode) VALUES (p_merchant, p_mode)
            ON CONFLICT DO NOTHING;
        PERFORM 1 FROM limit_scopes WHERE merchant_id = p_merchant AND mode = p_mode FOR UPDATE;
    END IF;
END;
$$;

-- Under the scope's lock: true if p_holder holds a lease now (kept and
-- extended if it held a live one; taken if fewer than p_max are live).
-- Expired leases of the scope are reclaimed first.
CREATE FUNCTION arsgate_take_lease(
    p_merchant uuid, p_mode text, p_holder uuid, p_max bigint, p_now bigint, p_expires bigint
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    live bigint;
BEGIN
    UPDATE channel_leases SET expires_at = p_expires
        WHERE holder = p_holder AND expires_at > p_now;
    IF FOUND THEN
        RETURN true;
    END IF;
    DELETE FROM channel_leases
        WHERE (merchant_id = p_merchant AND mode = p_mode AND expires_at <= p_now)
           OR holder = p_holder;
    -- Counting stops at p_max: the answer is the same, and an admission
    -- costs the plan's size at most, not the merchant's whole load.
    SELECT count(*) INTO live FROM (
        SELECT 1 FROM channel_leases
            WHERE merchant_id = p_merchant AND mode = p_mode LIMIT p_max
    ) AS held;
    IF live >= p_max THEN
        RETURN false;
    END IF;
    INSERT INTO channel_leases (holder, merchant_id, mode, acquired_at, expires_at)
        VALUES (p_holder, p_merchant, p_mode, p_now, p_expires);
    RETURN true;
END;
$$;

-- Store::acquire_lease: the lock, then the lease.
CREATE FUNCTION arsgate_acquire_lease(
    p_merchant uuid, p_mode text, p_holder uuid, p_max bigint, p_now bigint, p_expires bigint
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM arsgate_lock_scope(p_merchant, p_mode);
    RETURN arsgate_take_lease(p_merchant, p_mode, p_holder, p_max, p_now, p_expires);
END;
$$;

-- Store::admit_call. The verdict is 'leased' or 'admitted' (counted, with
-- or without the lease), 'velocity' (with the instant a call to the number
-- is allowed again), 'daily_cap' or 'channels_full' (nothing changed).
-- NULL p_velocity_calls, p_daily_cap or p_holder: no such limit, no lease.
CREATE FUNCTION arsgate_admit(
    p_merchant uuid, p_mode text, p_phone text, p_now bigint, p_day_start bigint,
    p_velocity_calls bigint, p_window_ms bigint, p_daily_cap bigint,
    p_holder uuid, p_max bigint, p_expires bigint, p_required boolean
) RETURNS TABLE (verdict text, retry_at bigint)
LANGUAGE plpgsql AS $$
DECLARE
    leaving bigint;
    today bigint;
    leased boolean := false;
BEGIN
    PERFORM arsgate_lock_scope(p_merchant, p_mode);
    IF p_velocity_calls IS NOT NULL THEN
        -- The p_velocity_calls-th most recent call within the window: while
        -- it is there, the number has had its calls.
        SELECT at INTO leaving FROM call_attempts
            WHERE merchant_id = p_merchant AND mode = p_mode AND phone = p_phone
              AND at > p_now - p_window_ms
            ORDER BY at DESC OFFSET p_velocity_calls - 1 LIMIT 1;
        IF FOUND THEN
            RETURN QUERY SELECT 'velocity'::text, leaving + p_window_ms;
            RETURN;
        END IF;
    END IF;
    IF p_daily_cap IS NOT NULL THEN
        SELECT count(*) INTO today FROM call_attempts
            WHERE merchant_id = p_merchant AND mode = p_mode AND at >= p_day_start;
        IF today >= p_daily_cap THEN
            RETURN QUERY SELECT 'daily_cap'::text, NULL::bigint;
            RETURN;
        END IF;
    END IF;
    IF p_holder IS NOT NULL THEN
        leased := arsgate_take_lease(p_merchant, p_mode, p_holder, p_max, p_now, p_expires);
        IF NOT leased AND p_required THEN
            RETURN QUERY SELECT 'channels_full'::text, NULL::bigint;
            RETURN;
        END IF;
    END IF;
    INSERT INTO call_attempts (merchant_id, mode, phone, at)
        VALUES (p_merchant, p_mode, p_phone, p_now);
    -- Calls older than both windows serve neither limit any more.
    DELETE FROM call_attempts
        WHERE merchant_id = p_merchant AND mode = p_mode
          AND at < LEAST(p_day_start, p_now - COALESCE(p_window_ms, 0));
    RETURN QUERY SELECT CASE WHEN leased THEN 'leased' ELSE 'admitted' END, NULL::bigint;
END;
$$;
