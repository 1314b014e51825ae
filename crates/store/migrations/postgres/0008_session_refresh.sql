-- The refresh token of the sign-in that opened a session, and when it was last used: a
-- provider's refusal to refresh ends the session (a person removed at the provider
-- loses access without waiting for the session to expire). NULL when the provider gave
-- none, for password sign-ins, and for sessions opened before this version.
ALTER TABLE sessions ADD COLUMN refresh_token TEXT;
ALTER TABLE sessions ADD COLUMN refreshed_at BIGINT;
