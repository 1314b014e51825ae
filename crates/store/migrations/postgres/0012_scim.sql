-- SCIM 2.0 inbound. Group membership pushed over SCIM is its own grant source ('scim');
-- a SCIM token is an API key with scope 'scim', bound to one provider; accounts and
-- groups a provider's SCIM client made are marked with that provider (which accounts
-- it sees besides those signing in through it).
ALTER TABLE user_groups DROP CONSTRAINT user_groups_source_check;
ALTER TABLE user_groups ADD CONSTRAINT user_groups_source_check
    CHECK (source IN ('default', 'rule', 'provider', 'admin', 'import', 'scim'));

ALTER TABLE api_keys DROP CONSTRAINT api_keys_scope_check;
ALTER TABLE api_keys ADD COLUMN provider TEXT;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_check
    CHECK (scope IN ('read', 'admin', 'scim') AND (scope = 'scim') = (provider IS NOT NULL));

ALTER TABLE users ADD COLUMN scim_provider TEXT;
ALTER TABLE groups ADD COLUMN scim_provider TEXT;
ALTER TABLE groups ADD COLUMN scim_external_id TEXT;
ALTER TABLE users ADD COLUMN scim_external_id TEXT;
CREATE INDEX users_scim_external_id ON users (scim_external_id) WHERE scim_external_id IS NOT NULL;
