//! SCIM Groups: list and search (and `/.search` over both resource types), read,
//! create, replace, patch and delete.

use super::*;

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
    let groups = app.db(move |d| d.scim_groups(&p)).await?;
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

pub(super) async fn fetch_group(app: &App, c: &Client, id: i64) -> Result<ScimGroup, Fail> {
    let p = c.provider.clone();
    app.db(move |d| d.scim_group(&p, id))
        .await?
        .ok_or_else(|| Fail(ScimError::not_found(format!("no Group \"{id}\""))))
}

pub(super) async fn get_group(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let g = fetch_group(&app, &c, group_id(&id)?).await?;
    let (v, tag) = group_json(&app, &g);
    Ok(one(v, tag, &q, StatusCode::OK))
}

pub(super) fn members(g: &GroupData) -> Result<Vec<UserId>, Fail> {
    g.members
        .iter()
        .map(|m| {
            m.parse::<i64>().map(UserId).map_err(|_| {
                Fail(ScimError::invalid_value(format!(
                    "member \"{m}\" is not a User's id"
                )))
            })
        })
        .collect()
}

pub(super) async fn create_group(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let data = GroupData::from_json(&body_json(&bytes)?)?;
    let who = members(&data)?;
    let (p, now) = (c.provider.clone(), app.now());
    let (name, ext) = (data.display_name.clone(), data.external_id.clone());
    let id = app
        .db(move |d| d.scim_create_group(&p, &name, ext.as_deref(), who, now))
        .await?
        .map_err(|r| refusal(r, "Group"))?;
    audited(
        &app,
        &c,
        "scim.group.created",
        None,
        format!("group {}", data.display_name),
    )
    .await;
    let (v, tag) = group_json(&app, &fetch_group(&app, &c, id).await?);
    Ok(one(v, tag, &q, StatusCode::CREATED))
}

pub(super) async fn write_group(
    app: &App,
    c: &Client,
    id: i64,
    data: GroupData,
    event: &str,
) -> Result<(), Fail> {
    let who = members(&data)?;
    let (p, now) = (c.provider.clone(), app.now());
    let (name, ext) = (data.display_name.clone(), data.external_id.clone());
    app.db(move |d| d.scim_update_group(&p, id, &name, ext.as_deref(), who, now))
        .await?
        .map_err(|r| refusal(r, "Group"))?;
    audited(app, c, event, None, format!("group {}", data.display_name)).await;
    Ok(())
}

pub(super) async fn replace_group(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let id = group_id(&id)?;
    let before = fetch_group(&app, &c, id).await?;
    check_if_match(&headers, &group_json(&app, &before).1)?;
    let data = GroupData::from_json(&body_json(&bytes)?)?;
    write_group(&app, &c, id, data, "scim.group.replaced").await?;
    let (v, tag) = group_json(&app, &fetch_group(&app, &c, id).await?);
    Ok(one(v, tag, &q, StatusCode::OK))
}

pub(super) async fn patch_group(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> ScimResult {
    let c = client(&app, &headers).await?;
    let id = group_id(&id)?;
    let ops = patch::parse(&body_json(&bytes)?)?;
    let before = fetch_group(&app, &c, id).await?;
    let (mut doc, tag) = group_json(&app, &before);
    check_if_match(&headers, &tag)?;
    patch::apply(&mut doc, &ops, &["id", "meta"])?;
    let data = GroupData::from_json(&doc)?;
    write_group(&app, &c, id, data, "scim.group.patched").await?;
    let (v, tag) = group_json(&app, &fetch_group(&app, &c, id).await?);
    Ok(one(v, tag, &q, StatusCode::OK))
}

pub(super) async fn delete_group(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Fail> {
    let c = client(&app, &headers).await?;
    let id = group_id(&id)?;
    let before = fetch_group(&app, &c, id).await?;
    check_if_match(&headers, &group_json(&app, &before).1)?;
    let (p, now) = (c.provider.clone(), app.now());
    app.db(move |d| d.scim_delete_group(&p, id, now))
        .await?
        .map_err(|r| refusal(r, "Group"))?;
    audited(
        &app,
        &c,
        "scim.group.deleted",
        None,
        format!("group {}", before.name),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
