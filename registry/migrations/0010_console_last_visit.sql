-- The province console's sessions keep the operator's sign-in before theirs, as the county
-- node's do (its migration 0012), so both consoles' session tables have one shape and one set
-- of statements (console-kit's `accounts`) serves both.
ALTER TABLE console_sessions ADD COLUMN previous_sign_in_unix_ms BIGINT NOT NULL DEFAULT 0;
