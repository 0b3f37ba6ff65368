-- The SHA-256 of each stored envelope, so a message id sent again with another body is told
-- from a redelivery (which gets the stored receipt back) and refused. Rows stored before this
-- migration have '' and are treated as before.
ALTER TABLE inbox ADD COLUMN envelope_sha256 TEXT NOT NULL DEFAULT '';
