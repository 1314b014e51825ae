//! SCIM Groups: what [`Resource`] needs to list, read, create, replace, patch and delete
//! them, and `/.search` over both resource types.

use super::resource::{Resource, Write, Written};
use super::*;
use ssogate_store::{Directory, StoreError};

/// `POST /scim/v2/.search`: Users and Groups together (RFC 7644 3.4.3).
pub(super) async fn search_all(
    State(app): State<App>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let ask = ListAsk::from_body(&body_json(&bytes)?)?;
    let p = c.provider.clone();
    let (users, groups) = app
        .db(move |d| Ok((ScimUser::all(d, &p)?, ScimGroup::all(d, &p)?)))
        .await?;
    let all = users
        .iter()
        .map(|u| user_json(&app, u).0)
        .chain(groups.iter().map(|g| group_json(&app, g).0))
        .collect();
    ask.answer(all)
}

/// A group to write: its name, external id and members.
pub(super) struct GroupInput {
    name: String,
    external_id: Option<String>,
    members: Vec<UserId>,
}

impl Resource for ScimGroup {
    type Id = i64;
    type Input = GroupInput;
    const NAME: &'static str = "Group";
    const EVENTS: &'static str = "scim.group";
    const READ_ONLY: &'static [&'static str] = &["id", "meta"];
    const KEYS: [&'static str; 2] = ["displayName", "externalId"];

    fn id(raw: i64) -> i64 {
        raw
    }

    fn load(d: &dyn Directory, provider: &str, id: i64) -> Result<Option<Self>, StoreError> {
        d.scim_group(provider, id)
    }

    fn find(d: &dyn Directory, provider: &str, key: ScimKey<'_>) -> Result<Vec<Self>, StoreError> {
        d.scim_groups_where(provider, key)
    }

    fn all(d: &dyn Directory, provider: &str) -> Result<Vec<Self>, StoreError> {
        d.scim_groups(provider)
    }

    fn page(
        d: &dyn Directory,
        provider: &str,
        skip: usize,
        count: usize,
    ) -> Result<(usize, Vec<Self>), StoreError> {
        d.scim_groups_page(provider, skip, count)
    }

    fn json(&self, app: &App) -> (Value, String) {
        group_json(app, self)
    }

    fn input(doc: &Value) -> Result<GroupInput, Fail> {
        let g = GroupData::from_json(doc)?;
        let members = g
            .members
            .iter()
            .map(|m| {
                m.parse::<i64>().map(UserId).map_err(|_| {
                    Fail(ScimError::invalid_value(format!(
                        "member \"{m}\" is not a User's id"
                    )))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(GroupInput {
            name: g.display_name,
            external_id: g.external_id,
            members,
        })
    }

    fn label(input: &GroupInput) -> String {
        format!("group {}", input.name)
    }

    fn label_of(&self) -> String {
        format!("group {}", self.name)
    }

    fn subject(_: i64) -> Option<UserId> {
        None
    }

    fn create(d: &dyn Directory, w: &Write, g: GroupInput) -> Written<i64> {
        let ext = g.external_id.as_deref();
        d.scim_create_group(&w.provider, &g.name, ext, g.members, w.now)
    }

    fn update(d: &dyn Directory, w: &Write, id: i64, g: GroupInput) -> Written<()> {
        let ext = g.external_id.as_deref();
        d.scim_update_group(&w.provider, id, &g.name, ext, g.members, w.now)
    }

    fn delete(d: &dyn Directory, w: &Write, id: i64) -> Written<()> {
        d.scim_delete_group(&w.provider, id, w.now)
    }
}
