-- One-time password reset links an administrator makes: only the SHA-256 digest of the
-- token is stored; the newest link of an account is the only one that works.

CREATE TABLE password_resets (
    token_hash  TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    created_by  TEXT
);

CREATE INDEX password_resets_user ON password_resets (user_id);
