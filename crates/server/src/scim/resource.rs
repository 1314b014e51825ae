//! Users and Groups, written once: list and search (a page read from the directory, a
//! lookup by key, or a filter over all), read, create, replace, patch, delete — the id,
//! the version checks (`If-Match`, `If-None-Match`), the directory write, the audit
//! event and the answer are the same steps for both; what differs (the directory
//! calls, the document, what is read-only) is [`Resource`]'s.

use super::*;
use ssogate_store::{Directory, StoreError};

/// A directory write's result: refused (400, 404, 409) or done.
pub(super) type Written<T> = Result<Result<T, ScimRefusal>, StoreError>;

/// A SCIM resource type as the directory keeps it.
pub(super) trait Resource: Sized + Send + 'static {
    type Id: Copy + Send + std::fmt::Display + 'static;
    /// What a write needs, checked before the directory is reached.
    type Input: Send + 'static;
    /// `User`, `Group`: in messages.
    const NAME: &'static str;
    /// `scim.user`, `scim.group`: audit events are this and `.created`, `.patched`, ….
    const EVENTS: &'static str;
    /// Attributes a PATCH may not change.
    const READ_ONLY: &'static [&'static str];

    /// What clients look one up by with `ATTR eq "…"` before creating or linking it
    /// (a name, then `externalId`): read by key, not as every resource.
    const KEYS: [&'static str; 2];

    fn id(raw: i64) -> Self::Id;
    fn load(d: &dyn Directory, provider: &str, id: Self::Id) -> Result<Option<Self>, StoreError>;
    /// Those with this name (`KEYS[0]`) or external id (`KEYS[1]`).
    fn find(d: &dyn Directory, provider: &str, key: ScimKey<'_>) -> Result<Vec<Self>, StoreError>;
    /// Every one the client sees.
    fn all(d: &dyn Directory, provider: &str) -> Result<Vec<Self>, StoreError>;
    /// How many it sees, and `count` of them from the `skip`-th on, by id.
    fn page(
        d: &dyn Directory,
        provider: &str,
        skip: usize,
        count: usize,
    ) -> Result<(usize, Vec<Self>), StoreError>;
    /// The document and its version.
    fn json(&self, app: &App) -> (Value, String);
    /// A client's document, checked.
    fn input(doc: &Value) -> Result<Self::Input, Fail>;
    /// How the audit trail names the resource being written, and the one it reads back.
    fn label(input: &Self::Input) -> String;
    fn label_of(&self) -> String;
    /// The account an audit event is about (a User's own id; none for a Group).
    fn subject(id: Self::Id) -> Option<UserId>;
    fn create(d: &dyn Directory, c: &Write, input: Self::Input) -> Written<Self::Id>;
    fn update(d: &dyn Directory, c: &Write, id: Self::Id, input: Self::Input) -> Written<()>;
    fn delete(d: &dyn Directory, c: &Write, id: Self::Id) -> Written<()>;
}

/// What a directory write of the calling client carries.
pub(super) struct Write {
    pub(super) provider: String,
    pub(super) bind: Bind,
    pub(super) now: i64,
}

fn write_of(app: &App, c: &Client) -> Write {
    Write {
        provider: c.provider.clone(),
        bind: c.bind,
        now: app.now(),
    }
}

/// An id from the path: not a number is no such resource.
fn parse_id<R: Resource>(id: &str) -> Result<R::Id, Fail> {
    id.parse::<i64>()
        .map(R::id)
        .map_err(|_| Fail(ScimError::not_found(format!("no {} \"{id}\"", R::NAME))))
}

pub(super) async fn fetch<R: Resource>(app: &App, c: &Client, id: R::Id) -> Result<R, Fail> {
    let p = c.provider.clone();
    app.db(move |d| R::load(d, &p, id))
        .await?
        .ok_or_else(|| Fail(ScimError::not_found(format!("no {} \"{id}\"", R::NAME))))
}

/// Writes the resource as `input` says, audits it as `verb`, and answers what it is now.
async fn write<R: Resource>(
    app: &App,
    c: &Client,
    (id, input): (R::Id, R::Input),
    verb: &str,
    q: &HashMap<String, String>,
) -> ScimResult {
    let label = R::label(&input);
    let w = write_of(app, c);
    app.db(move |d| R::update(d, &w, id, input))
        .await?
        .map_err(|r| refusal(r, R::NAME))?;
    audited(
        app,
        c,
        &format!("{}.{verb}", R::EVENTS),
        R::subject(id),
        label,
    )
    .await;
    let (v, tag) = fetch::<R>(app, c, id).await?.json(app);
    Ok(one(v, tag, q, StatusCode::OK))
}

/// A list: a lookup by key when the filter is `KEY eq "…"`, the page alone when there is
/// no filter (a client paging through every resource reads one page a request), else
/// every resource the client sees, filtered; the filter decides in every case.
async fn answer<R: Resource>(app: &App, c: &Client, ask: &ListAsk) -> ScimResult {
    let p = c.provider.clone();
    let found = match ask.equality(&R::KEYS) {
        Some((key, value)) => {
            app.db(move |d| {
                let key = match key {
                    0 => ScimKey::Name(&value),
                    _ => ScimKey::ExternalId(&value),
                };
                R::find(d, &p, key)
            })
            .await?
        }
        None if !ask.filtered() => {
            let (skip, count) = (ask.start - 1, ask.count);
            let (total, page) = app.db(move |d| R::page(d, &p, skip, count)).await?;
            return Ok(ask.page(total, page.iter().map(|r| r.json(app).0)));
        }
        None => app.db(move |d| R::all(d, &p)).await?,
    };
    ask.answer(found.iter().map(|r| r.json(app).0).collect())
}

/// `GET …`: the list, asked in the query string.
pub(super) async fn list<R: Resource>(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let ask = ListAsk::from_query(&q)?;
    answer::<R>(&app, &c, &ask).await
}

/// `POST …/.search`: the list, asked in the body.
pub(super) async fn search<R: Resource>(
    State(app): State<App>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let ask = ListAsk::from_body(&body_json(&bytes)?)?;
    answer::<R>(&app, &c, &ask).await
}

/// The routes of one resource type under `base` (`/scim/v2/Users`).
pub(super) fn routes<R: Resource>(base: &str) -> axum::Router<App> {
    use axum::routing::post;
    axum::Router::new()
        .route(base, get(list::<R>).post(create::<R>))
        .route(&format!("{base}/.search"), post(search::<R>))
        .route(
            &format!("{base}/{{id}}"),
            get(get_one::<R>)
                .put(replace::<R>)
                .patch(patch::<R>)
                .delete(delete::<R>),
        )
}

/// `GET …/{id}`: the resource, or 304 when the client holds its version already.
pub(super) async fn get_one<R: Resource>(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let c = client(&app, &headers).await?;
    let r = fetch::<R>(&app, &c, parse_id::<R>(&id)?).await?;
    let (v, tag) = r.json(&app);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|w| w.split(',').any(|w| w.trim() == tag))
    {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    Ok(one(v, tag, &q, StatusCode::OK).into_response())
}

/// `POST …`: creates the resource and answers it (201).
pub(super) async fn create<R: Resource>(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let input = R::input(&body_json(&bytes)?)?;
    let label = R::label(&input);
    let w = write_of(&app, &c);
    let made = app
        .db(move |d| R::create(d, &w, input))
        .await?
        .map_err(|r| refusal(r, R::NAME))?;
    let event = format!("{}.created", R::EVENTS);
    audited(&app, &c, &event, R::subject(made), label).await;
    let (v, tag) = fetch::<R>(&app, &c, made).await?.json(&app);
    Ok(one(v, tag, &q, StatusCode::CREATED))
}

/// `PUT …/{id}`: the resource becomes the client's document.
pub(super) async fn replace<R: Resource>(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let id = parse_id::<R>(&id)?;
    let before = fetch::<R>(&app, &c, id).await?;
    check_if_match(&headers, &before.json(&app).1)?;
    let input = R::input(&body_json(&bytes)?)?;
    write::<R>(&app, &c, (id, input), "replaced", &q).await
}

/// `PATCH …/{id}`: the operations applied to the stored document, which is then
/// written as a whole (what a PUT of the result would do).
pub(super) async fn patch<R: Resource>(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let id = parse_id::<R>(&id)?;
    let ops = patch::parse(&body_json(&bytes)?)?;
    let before = fetch::<R>(&app, &c, id).await?;
    let (mut doc, tag) = before.json(&app);
    check_if_match(&headers, &tag)?;
    patch::apply(&mut doc, &ops, R::READ_ONLY)?;
    write::<R>(&app, &c, (id, R::input(&doc)?), "patched", &q).await
}

/// `DELETE …/{id}` (204).
pub(super) async fn delete<R: Resource>(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Fail> {
    let c = client(&app, &headers).await?;
    let id = parse_id::<R>(&id)?;
    let before = fetch::<R>(&app, &c, id).await?;
    check_if_match(&headers, &before.json(&app).1)?;
    let w = write_of(&app, &c);
    app.db(move |d| R::delete(d, &w, id))
        .await?
        .map_err(|r| refusal(r, R::NAME))?;
    let event = format!("{}.deleted", R::EVENTS);
    audited(&app, &c, &event, R::subject(id), before.label_of()).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
