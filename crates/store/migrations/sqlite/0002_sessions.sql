-- Sessions and login states. Only SHA-256 digests of their secrets are stored, so a
-- copy of the database does not let anyone take over a session or finish a login.

CREATE TABLE sessions (
    id_hash         TEXT    PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        TEXT,
    -- The provider's session id (`sid`), for back-channel logout.
    sid             TEXT,
    subject         TEXT,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_sid ON sessions (provider, sid);
CREATE INDEX sessions_subject ON sessions (provider, subject);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE login_states (
    state_hash      TEXT    PRIMARY KEY,
    provider        TEXT    NOT NULL,
    -- A digest of the cookie that binds the login to the browser that started it.
    binding_hash    TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX login_states_expiry ON login_states (expires_at);
