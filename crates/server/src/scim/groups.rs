//! SCIM Groups: list and search (and `/.search` over both resource types), read,
//! create, replace, patch and delete.

use super::resource::{Resource, Write, Written};
use super::*;
use ssogate_store::{Directory, StoreError};

pub(super) async fn list_groups(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let ask = ListAsk::from_query(&q)?;
    groups_answer(&app, &c, &ask).await
}

pub(super) async fn groups_answer(app: &App, c: &Client, ask: &ListAsk) -> ScimResult {
    let p = c.provider.clone();
    // `displayName eq "…"` / `externalId eq "…"` (how clients find a group before
    // creating or linking it): read by key, not every group with all its members.
    let lookup = ask.equality(&["displayName", "externalId"]);
    let groups = match lookup {
        Some((0, name)) => {
            app.db(move |d| d.scim_groups_where(&p, Some(&name), None))
                .await?
        }
        Some((_, ext)) => {
            app.db(move |d| d.scim_groups_where(&p, None, Some(&ext)))
                .await?
        }
        // No filter: the page is read from the directory, members of its groups only.
        None if !ask.filtered() => {
            let (skip, count) = (ask.start - 1, ask.count);
            let (total, page) = app.db(move |d| d.scim_groups_page(&p, skip, count)).await?;
            return Ok(ask.page(total, page.iter().map(|g| group_json(app, g).0)));
        }
        None => app.db(move |d| d.scim_groups(&p)).await?,
    };
    ask.answer(groups.iter().map(|g| group_json(app, g).0).collect())
}

pub(super) async fn search_groups(
    State(app): State<App>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let ask = ListAsk::from_body(&body_json(&bytes)?)?;
    groups_answer(&app, &c, &ask).await
}

/// `POST /scim/v2/.search`: Users and Groups together (RFC 7644 3.4.3).
pub(super) async fn search_all(
    State(app): State<App>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let ask = ListAsk::from_body(&body_json(&bytes)?)?;
    let (p, q) = (c.provider.clone(), c.provider.clone());
    let users = app.db(move |d| d.scim_users(&p)).await?;
    let groups = app.db(move |d| d.scim_groups(&q)).await?;
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

    fn id(raw: i64) -> i64 {
        raw
    }

    fn load(d: &dyn Directory, provider: &str, id: i64) -> Result<Option<Self>, StoreError> {
        d.scim_group(provider, id)
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
