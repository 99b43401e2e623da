-- When the call read the one-time code out to its end (the dialplan's
-- `ars_code_heard`): a code never heard cannot be checked.
ALTER TABLE verifications ADD COLUMN code_heard_at bigint;
