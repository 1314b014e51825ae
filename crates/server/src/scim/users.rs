//! SCIM Users: list and search, and what [`Resource`] needs to read, create, replace,
//! patch and delete one — each within what the calling provider's token may see.

use super::resource::{Resource, Write, Written};
use super::*;
use ssogate_store::{Directory, StoreError};

pub(super) async fn list_users(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let ask = ListAsk::from_query(&q)?;
    users_answer(&app, &c, &ask).await
}

pub(super) async fn users_answer(app: &App, c: &Client, ask: &ListAsk) -> ScimResult {
    let p = c.provider.clone();
    // `userName eq "…"` / `externalId eq "…"` (how clients find an account before
    // creating it): one indexed lookup, not every account.
    let lookup = ask.equality(&["userName", "externalId"]).map(|(i, v)| {
        if i == 0 {
            (Some(v), None)
        } else {
            (None, Some(v))
        }
    });
    let users = match lookup {
        Some((name, ext)) => app
            .db(move |d| d.scim_user_where(&p, name.as_deref(), ext.as_deref()))
            .await?
            .into_iter()
            .collect(),
        // No filter: the page is read from the directory (a client paging through
        // every account would otherwise read them all at each page).
        None if !ask.filtered() => {
            let (skip, count) = (ask.start - 1, ask.count);
            let (total, page) = app.db(move |d| d.scim_users_page(&p, skip, count)).await?;
            return Ok(ask.page(total, page.iter().map(|u| user_json(app, u).0)));
        }
        None => app.db(move |d| d.scim_users(&p)).await?,
    };
    ask.answer(users.iter().map(|u| user_json(app, u).0).collect())
}

pub(super) async fn search_users(
    State(app): State<App>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let ask = ListAsk::from_body(&body_json(&bytes)?)?;
    users_answer(&app, &c, &ask).await
}

impl Resource for ScimUser {
    type Id = UserId;
    type Input = ScimUserInput;
    const NAME: &'static str = "User";
    const EVENTS: &'static str = "scim.user";
    const READ_ONLY: &'static [&'static str] = &["id", "meta", "groups"];

    fn id(raw: i64) -> UserId {
        UserId(raw)
    }

    fn load(d: &dyn Directory, provider: &str, id: UserId) -> Result<Option<Self>, StoreError> {
        d.scim_user(provider, id)
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
