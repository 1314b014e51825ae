-- Secrets the provider keeps for good, shared by every instance: the salt of pairwise
-- subjects (OpenID Connect Core 8.1), made once by whichever instance needs it first.
CREATE TABLE op_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
