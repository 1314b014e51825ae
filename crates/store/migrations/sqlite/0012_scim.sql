-- SCIM 2.0 inbound. Group membership pushed over SCIM is its own grant source ('scim');
-- a SCIM token is an API key with scope 'scim', bound to one provider; accounts and
-- groups a provider's SCIM client made are marked with that provider (which accounts
-- it sees besides those signing in through it).
CREATE TABLE user_groups_new (
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id        INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    source          TEXT    NOT NULL CHECK (source IN ('default', 'rule', 'provider', 'admin', 'import', 'scim')),
    granted_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, group_id)
);
INSERT INTO user_groups_new SELECT user_id, group_id, source, granted_at FROM user_groups;
DROP TABLE user_groups;
ALTER TABLE user_groups_new RENAME TO user_groups;
CREATE INDEX user_groups_group ON user_groups (group_id);

CREATE TABLE api_keys_new (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL,
    prefix          TEXT    NOT NULL UNIQUE,
    secret_hash     TEXT    NOT NULL,
    scope           TEXT    NOT NULL CHECK (scope IN ('read', 'admin', 'scim')),
    provider        TEXT,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    revoked_at      INTEGER,
    CHECK ((scope = 'scim') = (provider IS NOT NULL))
);
INSERT INTO api_keys_new (id, name, prefix, secret_hash, scope, created_at, last_used_at, revoked_at)
    SELECT id, name, prefix, secret_hash, scope, created_at, last_used_at, revoked_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;

ALTER TABLE users ADD COLUMN scim_provider TEXT;
ALTER TABLE groups ADD COLUMN scim_provider TEXT;
ALTER TABLE groups ADD COLUMN scim_external_id TEXT;
ALTER TABLE users ADD COLUMN scim_external_id TEXT;
CREATE INDEX users_scim_external_id ON users (scim_external_id) WHERE scim_external_id IS NOT NULL;
