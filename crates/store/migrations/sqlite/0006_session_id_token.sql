-- The ID token of the sign-in that opened a session, sent back to the provider as
-- `id_token_hint` at RP-initiated logout (so it can end its own session without asking
-- which one). NULL for password sign-ins and sessions opened before this version.
ALTER TABLE sessions ADD COLUMN id_token TEXT;
