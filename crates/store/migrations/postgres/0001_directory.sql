-- The directory: accounts, identities, catalogue, grants with provenance, audit.
-- Times are Unix seconds (UTC).

CREATE TABLE users (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        TEXT    NOT NULL,
    email           TEXT,
    email_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    display_name    TEXT,
    avatar          TEXT,
    quota           TEXT,
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'pending')),
    source          TEXT    NOT NULL CHECK (source IN ('local', 'provider', 'api')),
    -- Argon2id PHC string; NULL for accounts that only sign in through a provider.
    password_hash   TEXT,
    is_admin        BOOLEAN NOT NULL DEFAULT FALSE,
    admin_source    TEXT    CHECK (admin_source IN ('default', 'rule', 'provider', 'admin', 'import')),
    admin_granted_at BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    last_login_at   BIGINT
);
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE INDEX users_email ON users (lower(email));

CREATE TABLE identities (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        TEXT    NOT NULL,
    issuer          TEXT,
    subject         TEXT    NOT NULL,
    email           TEXT,
    -- The claims of the last login, secrets removed, for troubleshooting.
    raw_claims      TEXT,
    first_login_at  BIGINT  NOT NULL,
    last_login_at   BIGINT  NOT NULL,
    UNIQUE (provider, subject)
);
CREATE INDEX identities_issuer ON identities (issuer, subject);
CREATE INDEX identities_user ON identities (user_id);

-- BookStack's "External Authentication ID", per provider.
CREATE TABLE external_ids (
    user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        TEXT    NOT NULL,
    external_id     TEXT    NOT NULL,
    PRIMARY KEY (user_id, provider),
    UNIQUE (provider, external_id)
);

CREATE TABLE permissions (
    name            TEXT    PRIMARY KEY,
    label           TEXT,
    required        BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE libraries (
    name            TEXT    PRIMARY KEY,
    label           TEXT
);

CREATE TABLE groups (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT    NOT NULL
);

CREATE UNIQUE INDEX groups_name_lower ON groups (lower(name));

CREATE TABLE group_external_ids (
    group_id        BIGINT  NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    external_id     TEXT    NOT NULL,
    PRIMARY KEY (group_id, external_id)
);

-- Grants: what each account holds, where it came from, and since when.
CREATE TABLE user_permissions (
    user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission      TEXT    NOT NULL REFERENCES permissions (name) ON UPDATE CASCADE ON DELETE CASCADE,
    source          TEXT    NOT NULL CHECK (source IN ('default', 'rule', 'provider', 'admin', 'import')),
    granted_at      BIGINT  NOT NULL,
    PRIMARY KEY (user_id, permission)
);

CREATE TABLE user_libraries (
    user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    library         TEXT    NOT NULL REFERENCES libraries (name) ON UPDATE CASCADE ON DELETE CASCADE,
    source          TEXT    NOT NULL CHECK (source IN ('default', 'rule', 'provider', 'admin', 'import')),
    granted_at      BIGINT  NOT NULL,
    PRIMARY KEY (user_id, library)
);

CREATE TABLE user_groups (
    user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id        BIGINT  NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    source          TEXT    NOT NULL CHECK (source IN ('default', 'rule', 'provider', 'admin', 'import')),
    granted_at      BIGINT  NOT NULL,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_groups_group ON user_groups (group_id);

CREATE TABLE audit_events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              BIGINT  NOT NULL,
    event           TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    reason          TEXT,
    provider        TEXT,
    subject         TEXT,
    user_id         BIGINT,
    actor           TEXT,
    address         TEXT,
    user_agent      TEXT,
    detail          TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user ON audit_events (user_id, at);
