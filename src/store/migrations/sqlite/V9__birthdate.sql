-- For birth-date scenarios (`enter_birthdate`): the HMACs of the birth date's
-- two keyed forms under the server's secret, `long:short` in hex. Held while
-- the verification runs; `finish` sets it back to NULL.
ALTER TABLE verifications ADD COLUMN birthdate_digest TEXT;
