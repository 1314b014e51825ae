//! SCIM Users: what [`Resource`] needs to list, read, create, replace, patch and delete
//! them — each within what the calling provider's token may see.

use super::resource::{Resource, Write, Written};
use super::*;
use ssogate_store::{Directory, StoreError};

impl Resource for ScimUser {
    type Id = UserId;
    type Input = ScimUserInput;
    const NAME: &'static str = "User";
    const EVENTS: &'static str = "scim.user";
    const READ_ONLY: &'static [&'static str] = &["id", "meta", "groups"];
    const KEYS: [&'static str; 2] = ["userName", "externalId"];

    fn id(raw: i64) -> UserId {
        UserId(raw)
    }

    fn load(d: &dyn Directory, provider: &str, id: UserId) -> Result<Option<Self>, StoreError> {
        d.scim_user(provider, id)
    }

    fn find(d: &dyn Directory, provider: &str, key: ScimKey<'_>) -> Result<Vec<Self>, StoreError> {
        Ok(d.scim_user_where(provider, key)?.into_iter().collect())
    }

    fn all(d: &dyn Directory, provider: &str) -> Result<Vec<Self>, StoreError> {
        d.scim_users(provider)
    }

    fn page(
        d: &dyn Directory,
        provider: &str,
        skip: usize,
        count: usize,
    ) -> Result<(usize, Vec<Self>), StoreError> {
        d.scim_users_page(provider, skip, count)
    }

    fn json(&self, app: &App) -> (Value, String) {
        user_json(app, self)
    }

    fn input(doc: &Value) -> Result<ScimUserInput, Fail> {
        let u = UserData::from_json(doc)?;
        Ok(ScimUserInput {
            username: u.user_name,
            display_name: u.display_name,
            email: u.email,
            active: u.active,
            external_id: u.external_id,
        })
    }

    fn label(input: &ScimUserInput) -> String {
        format!("userName {}", input.username)
    }

    fn label_of(&self) -> String {
        format!("userName {}", self.username)
    }

    fn subject(id: UserId) -> Option<UserId> {
        Some(id)
    }

    fn create(d: &dyn Directory, w: &Write, input: ScimUserInput) -> Written<UserId> {
        d.scim_create_user(&w.provider, w.bind, input, w.now)
    }

    fn update(d: &dyn Directory, w: &Write, id: UserId, input: ScimUserInput) -> Written<()> {
        d.scim_update_user(&w.provider, w.bind, id, input, w.now)
    }

    fn delete(d: &dyn Directory, w: &Write, id: UserId) -> Written<()> {
        d.scim_delete_user(&w.provider, id, w.now)
    }
}
