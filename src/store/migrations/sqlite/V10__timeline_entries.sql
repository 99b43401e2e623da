-- Each timeline entry as it happens, for the live event stream
-- (`GET /v1/verifications/{id}/events`): numbered from 1 per verification
-- in the order the call's process recorded them (the stream's event ids).
-- The JSON text as the API shows it; entries never hold keyed digits.
-- The finished record keeps the whole timeline too (`verifications.timeline`).
CREATE TABLE timeline_entries (
    verification_id TEXT    NOT NULL REFERENCES verifications (id),
    seq             INTEGER NOT NULL,
    entry           TEXT    NOT NULL,
    PRIMARY KEY (verification_id, seq)
);
