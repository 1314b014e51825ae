-- Back-channel logout replay guard, provisioning settings, and providers managed in the
-- database (those from the configuration file are never stored here).

CREATE TABLE logout_jtis (
    provider        TEXT    NOT NULL,
    jti             TEXT    NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (provider, jti)
);
CREATE INDEX logout_jtis_expiry ON logout_jtis (expires_at);

-- One JSON document per scope: 'global' or 'provider:<slug>'. Switching provisioning
-- off edits a field of it; the defaults it holds are kept.
CREATE TABLE provisioning_settings (
    scope           TEXT    PRIMARY KEY,
    document        TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL,
    updated_by      TEXT
);

CREATE TABLE providers (
    slug            TEXT    PRIMARY KEY,
    document        TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
