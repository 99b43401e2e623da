-- A node's channels are matched to their verifications by call id (the
-- channel UUID arsgate chose): which of the channels found on a node some
-- unfinished verification still wants.
CREATE INDEX verifications_call_id ON verifications (call_id);
