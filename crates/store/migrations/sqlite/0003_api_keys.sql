-- API keys: `ssg_<prefix>_<secret>`; only the SHA-256 digest of the secret is stored.

CREATE TABLE api_keys (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL,
    prefix          TEXT    NOT NULL UNIQUE,
    secret_hash     TEXT    NOT NULL,
    scope           TEXT    NOT NULL CHECK (scope IN ('read', 'admin')),
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    revoked_at      INTEGER
);
