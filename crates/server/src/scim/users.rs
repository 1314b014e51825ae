//! SCIM Users: list and search, read, create, replace, patch and delete — each
//! within what the calling provider's token may see.

use super::*;

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
    let lookup = ask
        .filter
        .as_deref()
        .and_then(|f| filter::parse(f).ok())
        .and_then(|f| {
            filter::equality(&f).and_then(|(attr, v)| {
                if attr.eq_ignore_ascii_case("userName") {
                    Some((Some(v.to_owned()), None))
                } else if attr.eq_ignore_ascii_case("externalId") {
                    Some((None, Some(v.to_owned())))
                } else {
                    None
                }
            })
        });
    let users = match lookup {
        Some((name, ext)) => app
            .db(move |d| d.scim_user_where(&p, name.as_deref(), ext.as_deref()))
            .await?
            .into_iter()
            .collect(),
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

pub(super) async fn fetch_user(app: &App, c: &Client, id: UserId) -> Result<ScimUser, Fail> {
    let p = c.provider.clone();
    app.db(move |d| d.scim_user(&p, id))
        .await?
        .ok_or_else(|| Fail(ScimError::not_found(format!("no User \"{}\"", id.0))))
}

pub(super) async fn get_user(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let c = client(&app, &headers).await?;
    let u = fetch_user(&app, &c, user_id(&id)?).await?;
    let (v, tag) = user_json(&app, &u);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|w| w.split(',').any(|w| w.trim() == tag))
    {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    Ok(one(v, tag, &q, StatusCode::OK).into_response())
}

pub(super) async fn create_user(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let data = UserData::from_json(&body_json(&bytes)?)?;
    let (p, how, now) = (c.provider.clone(), c.bind, app.now());
    let name = data.user_name.clone();
    let made = app
        .db(move |d| d.scim_create_user(&p, how, input(data), now))
        .await?
        .map_err(|r| refusal(r, "User"))?;
    audited(
        &app,
        &c,
        "scim.user.created",
        Some(made),
        format!("userName {name}"),
    )
    .await;
    let u = fetch_user(&app, &c, made).await?;
    let (v, tag) = user_json(&app, &u);
    Ok(one(v, tag, &q, StatusCode::CREATED))
}

pub(super) async fn write_user(
    app: &App,
    c: &Client,
    id: UserId,
    data: UserData,
    event: &str,
) -> Result<(), Fail> {
    let (p, how, now) = (c.provider.clone(), c.bind, app.now());
    let name = data.user_name.clone();
    app.db(move |d| d.scim_update_user(&p, how, id, input(data), now))
        .await?
        .map_err(|r| refusal(r, "User"))?;
    audited(app, c, event, Some(id), format!("userName {name}")).await;
    Ok(())
}

pub(super) async fn replace_user(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let id = user_id(&id)?;
    let before = fetch_user(&app, &c, id).await?;
    check_if_match(&headers, &user_json(&app, &before).1)?;
    let data = UserData::from_json(&body_json(&bytes)?)?;
    write_user(&app, &c, id, data, "scim.user.replaced").await?;
    let (v, tag) = user_json(&app, &fetch_user(&app, &c, id).await?);
    Ok(one(v, tag, &q, StatusCode::OK))
}

pub(super) const USER_READ_ONLY: [&str; 3] = ["id", "meta", "groups"];

pub(super) async fn patch_user(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let id = user_id(&id)?;
    let ops = patch::parse(&body_json(&bytes)?)?;
    let before = fetch_user(&app, &c, id).await?;
    let (mut doc, tag) = user_json(&app, &before);
    check_if_match(&headers, &tag)?;
    patch::apply(&mut doc, &ops, &USER_READ_ONLY)?;
    let data = UserData::from_json(&doc)?;
    write_user(&app, &c, id, data, "scim.user.patched").await?;
    let (v, tag) = user_json(&app, &fetch_user(&app, &c, id).await?);
    Ok(one(v, tag, &q, StatusCode::OK))
}

pub(super) async fn delete_user(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Fail> {
    let c = client(&app, &headers).await?;
    let id = user_id(&id)?;
    let before = fetch_user(&app, &c, id).await?;
    check_if_match(&headers, &user_json(&app, &before).1)?;
    let (p, now) = (c.provider.clone(), app.now());
    app.db(move |d| d.scim_delete_user(&p, id, now))
        .await?
        .map_err(|r| refusal(r, "User"))?;
    audited(
        &app,
        &c,
        "scim.user.deleted",
        Some(id),
        format!("userName {}", before.username),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
