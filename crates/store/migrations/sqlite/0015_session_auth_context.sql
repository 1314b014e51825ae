-- How a session's person authenticated, for the ID tokens ssogate issues as a provider
-- (OpenID Connect Core 2: `amr`, space-separated RFC 8176 values, and `acr`): the
-- upstream provider's when its ID token said, `pwd` for a local password.
ALTER TABLE sessions ADD COLUMN amr TEXT;
ALTER TABLE sessions ADD COLUMN acr TEXT;
