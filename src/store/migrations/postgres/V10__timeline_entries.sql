-- Each timeline entry as it happens, for the live event stream
-- (`GET /v1/verifications/{id}/events`): numbered from 1 per verification
-- in the order the call's process recorded them (the stream's event ids).
-- The JSON text as the API shows it; entries never hold keyed digits.
-- The finished record keeps the whole timeline too (`verifications.timeline`).
CREATE TABLE timeline_entries (
    verification_id uuid   NOT NULL REFERENCES verifications (id),
    seq             bigint NOT NULL,
    entry           text   NOT NULL,
    PRIMARY KEY (verification_id, seq)
);

-- Wakes the event streams every replica holds: the payload names the
-- verification and the entry, never what it says.
CREATE FUNCTION arsgate_timeline_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('arsgate_timeline', NEW.verification_id::text || ' ' || NEW.seq::text);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER timeline_entries_notify AFTER INSERT ON timeline_entries
    FOR EACH ROW EXECUTE FUNCTION arsgate_timeline_notify();
