//! Projects partition the assets; a project authorization lets an Operator key's user
//! administer its projects' assets and nothing else; a review rule lets one read their
//! sessions.

use super::*;

/// Signs as another key.
fn as_key<'a>(ak: &'a str, secret: &'a str, action: &'a str, q: &[(&'a str, &str)]) -> Req<'a> {
    let mut r = req(action, q);
    (r.ak, r.secret) = (ak, secret);
    r
}

async fn ok(h: &Harness, action: &str, q: &[(&str, &str)]) -> Value {
    let (status, body) = call(h, action, q).await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

fn id_of(v: &Value, field: &str) -> String {
    match &v[field] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("{field} is {other}"),
    }
}

async fn host_in(h: &Harness, name: &str, project: &str) -> String {
    let mut q = HOST.to_vec();
    q.push(("HostName", name));
    q.push(("ProjectId", project));
    id_of(&ok(h, "CreateHost", &q).await, "HostId")
}

async fn operator(h: &Harness, name: &str) -> String {
    let body = ok(h, "CreateUser", &[("UserName", name), ("Source", "Local")]).await;
    let uid = id_of(&body, "UserId");
    h.backend.add_access_key(
        name,
        "op-secret",
        Role::Operator,
        Some(uid.parse().expect("id")),
    );
    uid
}

#[tokio::test]
async fn projects_hold_assets_and_list_with_cursor_paging() {
    let h = harness();
    let web = id_of(
        &ok(&h, "CreateProject", &[("Name", "web")]).await,
        "ProjectId",
    );
    let shop = id_of(
        &ok(
            &h,
            "CreateProject",
            &[("Name", "shop"), ("MemberIds", "[]")],
        )
        .await,
        "ProjectId",
    );
    let w1 = host_in(&h, "w1", &web).await;
    create_host(&h, "d1").await;
    let listed = ok(&h, "ListProjects", &[("MaxResults", "2")]).await;
    assert_eq!(listed["TotalCount"], 3, "{listed}");
    assert_eq!(listed["Projects"][0]["IsDefault"], true, "{listed}");
    assert_eq!(listed["Projects"][0]["HostCount"], 1, "{listed}");
    assert_eq!(listed["Projects"][1]["Name"], "web", "{listed}");
    assert_eq!(listed["Projects"][1]["HostCount"], 1, "{listed}");
    assert_eq!(listed["NextToken"], "2", "{listed}");
    let rest = ok(&h, "ListProjects", &[("NextToken", "2")]).await;
    assert_eq!(rest["Projects"][0]["Name"], "shop", "{rest}");
    assert_eq!(rest["NextToken"], "", "{rest}");
    let hosts = ok(&h, "ListHosts", &[("ProjectId", &web)]).await;
    assert_eq!(hosts["TotalCount"], 1, "{hosts}");
    assert_eq!(hosts["Hosts"][0]["HostId"], w1.as_str(), "{hosts}");
    // A project holding a host is not deleted; the empty one is; each has its result.
    let ids = format!("[\"{web}\",\"{shop}\"]");
    let deleted = ok(&h, "DeleteProjects", &[("ProjectIds", &ids)]).await;
    assert_eq!(
        deleted["Results"][0]["Code"], "InvalidParameter",
        "{deleted}"
    );
    assert!(
        deleted["Results"][0]["Message"]
            .as_str()
            .is_some_and(|m| m.contains("1 host(s)")),
        "{deleted}"
    );
    assert_eq!(deleted["Results"][1]["Code"], "OK", "{deleted}");
    // Moving checks where the host is now.
    let moved = ok(
        &h,
        "ModifyHostsProject",
        &[
            ("HostIds", &format!("[\"{w1}\"]")),
            ("ProjectId", "0"),
            ("TargetProjectId", &web),
        ],
    )
    .await;
    assert_eq!(moved["SuccessCount"], 0, "{moved}");
    assert_eq!(moved["Results"][0]["AssetId"], w1.as_str(), "{moved}");
    let moved = ok(
        &h,
        "ModifyHostsProject",
        &[
            ("HostIds", &format!("[\"{w1}\"]")),
            ("TargetProjectId", "0"),
        ],
    )
    .await;
    assert_eq!(moved["SuccessCount"], 1, "{moved}");
    let default = ok(&h, "GetProject", &[("ProjectId", "0")]).await;
    assert_eq!(default["Project"]["HostCount"], 2, "{default}");
    // Cloud member accounts and notification recipients are refused, not stored.
    let members = call(
        &h,
        "CreateProject",
        &[("Name", "x"), ("MemberIds", "[\"1234\"]")],
    )
    .await;
    assert_error(&members, 400, "OperationNotSupported");
    let receiver = call(
        &h,
        "CreateProjectNotifyReceiver",
        &[("ProjectId", &web), ("Name", "ops"), ("Phone", "1")],
    )
    .await;
    assert_error(&receiver, 400, "OperationNotSupported");
    let none = ok(&h, "ListProjectNotifyReceivers", &[("ProjectId", &web)]).await;
    assert_eq!(none["TotalCount"], 0, "{none}");
}

#[tokio::test]
async fn a_project_administrator_acts_only_on_the_projects_assets() {
    let h = harness();
    let web = id_of(
        &ok(&h, "CreateProject", &[("Name", "web")]).await,
        "ProjectId",
    );
    let shop = id_of(
        &ok(&h, "CreateProject", &[("Name", "shop")]).await,
        "ProjectId",
    );
    let w1 = host_in(&h, "w1", &web).await;
    let s1 = host_in(&h, "s1", &shop).await;
    let pm = operator(&h, "pm").await;
    let alice = operator(&h, "alice").await;
    let pm_call = |action: &'static str, q: Vec<(&'static str, String)>| {
        let mut r = as_key("pm", "op-secret", action, &[]);
        r.query = q;
        r
    };
    // Before any delegation an Operator key lists no host.
    let before = send(&h, &pm_call("ListHosts", vec![("ProjectId", web.clone())])).await;
    assert_error(&before, 403, "Forbidden");

    let auth = id_of(
        &ok(
            &h,
            "CreateProjectAuthorization",
            &[("Name", "web admins"), ("ScopeType", "2")],
        )
        .await,
        "AuthorizationId",
    );
    ok(
        &h,
        "AttachProjectsToProjectAuthorization",
        &[
            ("AuthorizationId", &auth),
            ("ProjectIds", &format!("[{web}]")),
        ],
    )
    .await;
    ok(
        &h,
        "AttachProjectManagersToProjectAuthorization",
        &[
            ("AuthorizationId", &auth),
            ("Principals.1.PrincipalId", &pm),
            ("Principals.1.PrincipalType", "RamUser"),
        ],
    )
    .await;
    let shown = ok(&h, "GetProjectAuthorization", &[("AuthorizationId", &auth)]).await;
    let a = &shown["ProjectAuthorization"];
    assert_eq!(a["Principals"][0]["PrincipalId"], pm.as_str(), "{shown}");
    assert_eq!(a["Principals"][0]["PrincipalName"], "pm", "{shown}");
    assert_eq!(a["ProjectIds"][0].to_string(), web, "{shown}");
    assert_eq!(a["ScopeType"], 2, "{shown}");

    // Listing names its project, which must be one the user administers.
    let (status, hosts) = send(&h, &pm_call("ListHosts", vec![("ProjectId", web.clone())])).await;
    assert_eq!(status, 200, "{hosts}");
    assert_eq!(hosts["TotalCount"], 1, "{hosts}");
    assert_eq!(hosts["Hosts"][0]["HostId"], w1.as_str(), "{hosts}");
    let unnamed = send(&h, &pm_call("ListHosts", vec![])).await;
    assert_error(&unnamed, 403, "Forbidden");
    assert!(
        unnamed.1["Message"]
            .as_str()
            .is_some_and(|m| m.contains("ProjectId")),
        "{}",
        unnamed.1
    );
    let other = send(&h, &pm_call("ListHosts", vec![("ProjectId", shop.clone())])).await;
    assert_error(&other, 403, "Forbidden");
    assert!(
        other.1["Message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("project {shop} is not one you administer"))),
        "{}",
        other.1
    );
    // Reading and changing a host of its project; not one of another, nor a missing one.
    let (status, got) = send(&h, &pm_call("GetHost", vec![("HostId", w1.clone())])).await;
    assert_eq!(status, 200, "{got}");
    for id in [s1.clone(), "999999".to_string()] {
        let refused = send(&h, &pm_call("GetHost", vec![("HostId", id.clone())])).await;
        assert_error(&refused, 403, "Forbidden");
        assert!(
            refused.1["Message"].as_str().is_some_and(
                |m| m.contains(&format!("host {id} is not in a project you administer"))
            ),
            "{}",
            refused.1
        );
    }
    let mut create = HOST
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect::<Vec<_>>();
    create.push(("HostName", "w2".into()));
    let mut in_web = create.clone();
    in_web.push(("ProjectId", web.clone()));
    let (status, made) = send(&h, &pm_call("CreateHost", in_web)).await;
    assert_eq!(status, 200, "{made}");
    // Without ProjectId a host goes to the default project, which pm does not administer.
    assert_error(
        &send(&h, &pm_call("CreateHost", create)).await,
        403,
        "Forbidden",
    );
    // Shared keys and network domains reach beyond a project: an administrator sets them.
    let mut in_domain = HOST
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect::<Vec<_>>();
    in_domain.extend([
        ("HostName", "w3".to_string()),
        ("ProjectId", web.clone()),
        ("NetworkDomainId", "1".to_string()),
    ]);
    let domain = send(&h, &pm_call("CreateHost", in_domain)).await;
    assert_error(&domain, 403, "Forbidden");
    assert!(
        domain.1["Message"]
            .as_str()
            .is_some_and(|m| m.contains("NetworkDomainId")),
        "{}",
        domain.1
    );
    let shared = send(
        &h,
        &pm_call(
            "CreateHostAccount",
            vec![
                ("HostId", w1.clone()),
                ("HostAccountName", "deploy".into()),
                ("ProtocolName", "SSH".into()),
                ("HostShareKeyId", "1".into()),
            ],
        ),
    )
    .await;
    assert_error(&shared, 403, "Forbidden");
    // Moving a host out to a project it does not administer is refused.
    let out = send(
        &h,
        &pm_call(
            "ModifyHostsProject",
            vec![
                ("HostIds", format!("[\"{w1}\"]")),
                ("TargetProjectId", shop.clone()),
            ],
        ),
    )
    .await;
    assert_error(&out, 403, "Forbidden");
    // Authorizing a user to a host of its project, not to another's.
    let account = ok(
        &h,
        "CreateHostAccount",
        &[
            ("HostId", &w1),
            ("HostAccountName", "root"),
            ("ProtocolName", "SSH"),
        ],
    )
    .await;
    let account = id_of(&account, "HostAccountId");
    let grant = |host: &str| {
        vec![
            ("UserId", alice.clone()),
            (
                "Hosts",
                format!("[{{\"HostId\":\"{host}\",\"HostAccountIds\":[\"{account}\"]}}]"),
            ),
        ]
    };
    let (status, granted) = send(&h, &pm_call("AttachHostAccountsToUser", grant(&w1))).await;
    assert_eq!(status, 200, "{granted}");
    assert_eq!(granted["Results"][0]["Code"], "OK", "{granted}");
    assert_error(
        &send(&h, &pm_call("AttachHostAccountsToUser", grant(&s1))).await,
        403,
        "Forbidden",
    );
    // Users are readable (to authorize them); settings and users are not changed by pm.
    let (status, _) = send(&h, &pm_call("ListUsers", vec![])).await;
    assert_eq!(status, 200);
    let made_user = send(
        &h,
        &pm_call(
            "CreateUser",
            vec![("UserName", "x".into()), ("Source", "Local".into())],
        ),
    )
    .await;
    assert_error(&made_user, 403, "Forbidden");
    let projects = send(
        &h,
        &pm_call("ListProjectsForProjectAuthorizationPrincipal", vec![]),
    )
    .await;
    assert_eq!(projects.0, 200, "{}", projects.1);
    assert_eq!(projects.1["TotalCount"], 1, "{}", projects.1);
    assert_eq!(projects.1["Projects"][0]["Name"], "web", "{}", projects.1);

    // A locked user has no delegated rights; unlocked, they are back.
    ok(&h, "LockUsers", &[("UserIds", &format!("[\"{pm}\"]"))]).await;
    let locked = send(&h, &pm_call("ListHosts", vec![("ProjectId", web.clone())])).await;
    assert_error(&locked, 403, "Forbidden");
    ok(&h, "UnlockUsers", &[("UserIds", &format!("[\"{pm}\"]"))]).await;
    let (status, _) = send(&h, &pm_call("ListHosts", vec![("ProjectId", web.clone())])).await;
    assert_eq!(status, 200);
    // Removing pm from the authorization takes the rights away.
    ok(
        &h,
        "DetachProjectManagersFromProjectAuthorization",
        &[
            ("AuthorizationId", &auth),
            ("PrincipalIds", &format!("[\"{pm}\"]")),
        ],
    )
    .await;
    let after = send(&h, &pm_call("ListHosts", vec![("ProjectId", web.clone())])).await;
    assert_error(&after, 403, "Forbidden");
}

#[tokio::test]
async fn a_reviewer_reads_the_sessions_of_the_projects_it_audits() {
    let h = harness();
    let web = id_of(
        &ok(&h, "CreateProject", &[("Name", "web")]).await,
        "ProjectId",
    );
    let rv = operator(&h, "rv").await;
    let rule = id_of(
        &ok(
            &h,
            "CreateReviewRule",
            &[
                ("Name", "web audit"),
                ("ScopeType", "2"),
                ("Description", "d"),
            ],
        )
        .await,
        "ReviewRuleId",
    );
    for (action, q) in [
        (
            "AttachProjectsToReviewRule",
            ("ProjectIds", format!("[\"{web}\"]")),
        ),
        (
            "AttachReviewersToReviewRule",
            ("Principals.1.PrincipalId", rv.clone()),
        ),
    ] {
        ok(&h, action, &[("ReviewRuleId", &rule), (q.0, &q.1)]).await;
    }
    // Two sessions: one on web's host, one on a host of the default project.
    let w1 = host_in(&h, "w1", &web).await;
    let d1 = create_host(&h, "d1").await;
    let epoch = match h
        .backend
        .apply_now(portunus_model::Command::NodeStarted { node_id: 1 })
    {
        portunus_model::Response::NodeEpoch { epoch, .. } => epoch,
        other => panic!("{other:?}"),
    };
    let mut sessions = Vec::new();
    for host in [&w1, &d1] {
        let acct = ok(
            &h,
            "CreateHostAccount",
            &[
                ("HostId", host),
                ("HostAccountName", "root"),
                ("ProtocolName", "SSH"),
            ],
        )
        .await;
        let acct = id_of(&acct, "HostAccountId");
        let grant = format!("[{{\"HostId\":\"{host}\",\"HostAccountIds\":[\"{acct}\"]}}]");
        ok(
            &h,
            "AttachHostAccountsToUser",
            &[("UserId", &rv), ("Hosts", &grant)],
        )
        .await;
        let opened = h.backend.apply_now(portunus_model::Command::OpenSession {
            user_id: rv.parse().expect("id"),
            asset: portunus_model::AssetRef::Host(host.parse().expect("id")),
            account_id: acct.parse().expect("id"),
            protocol: portunus_model::Protocol::Ssh,
            node_id: 1,
            node_epoch: epoch,
            client_addr: "192.0.2.1:1".into(),
        });
        match opened {
            portunus_model::Response::SessionOpened(g) => sessions.push(g.session_id.to_string()),
            other => panic!("{other:?}"),
        }
    }
    let rules = ok(&h, "ListReviewRules", &[("Keyword", "WEB")]).await;
    assert_eq!(rules["ReviewRules"][0]["RuleName"], "web audit", "{rules}");
    assert_eq!(rules["ReviewRules"][0]["Remark"], "d", "{rules}");
    let rv_call = |q: &[(&'static str, &str)]| as_key("rv", "op-secret", "ListSessions", q);
    let (status, body) = send(&h, &rv_call(&[("ProjectId", &web)])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["TotalCount"], 1, "{body}");
    assert_eq!(
        body["Sessions"][0]["SessionId"],
        sessions[0].as_str(),
        "{body}"
    );
    let events = |id: &str| {
        let mut r = as_key("rv", "op-secret", "ListSessionEvents", &[]);
        r.query = vec![("SessionId", id.to_string())];
        r
    };
    let (status, body) = send(&h, &events(&sessions[0])).await;
    assert_eq!(status, 200, "{body}");
    let other = send(&h, &events(&sessions[1])).await;
    assert_error(&other, 403, "Forbidden");
    assert!(
        other.1["Message"]
            .as_str()
            .is_some_and(|m| m.contains("is not in a project you audit")),
        "{}",
        other.1
    );
    assert_error(
        &send(&h, &rv_call(&[("ProjectId", "0")])).await,
        403,
        "Forbidden",
    );
    assert_error(&send(&h, &rv_call(&[])).await, 403, "Forbidden");
    // A reviewer administers nothing.
    let hosts = as_key("rv", "op-secret", "ListHosts", &[("ProjectId", &web)]);
    assert_error(&send(&h, &hosts).await, 403, "Forbidden");
    // RAM roles are cloud identities.
    let role = call(
        &h,
        "AttachReviewersToReviewRule",
        &[
            ("ReviewRuleId", &rule),
            ("Principals.1.PrincipalId", "acs:ram::1:role/x"),
            ("Principals.1.PrincipalType", "RamRole"),
        ],
    )
    .await;
    assert_error(&role, 400, "OperationNotSupported");
    let not_for = ok(
        &h,
        "ListProjectsNotForReviewRule",
        &[("ReviewRuleId", &rule)],
    )
    .await;
    assert_eq!(not_for["TotalCount"], 1, "{not_for}");
    assert_eq!(not_for["Projects"][0]["IsDefault"], true, "{not_for}");
}

#[tokio::test]
async fn project_id_is_honoured_as_a_constraint_or_refused_never_ignored() {
    let h = harness();
    let web = id_of(
        &ok(&h, "CreateProject", &[("Name", "web")]).await,
        "ProjectId",
    );
    let w1 = host_in(&h, "w1", &web).await;
    let d1 = create_host(&h, "d1").await;
    ok(&h, "GetHost", &[("HostId", &w1), ("ProjectId", &web)]).await;
    ok(&h, "GetHost", &[("HostId", &d1), ("ProjectId", "0")]).await;
    let wrong = call(&h, "GetHost", &[("HostId", &d1), ("ProjectId", &web)]).await;
    assert_error(&wrong, 400, "InvalidParameter");
    assert!(
        wrong.1["Message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("host {d1} is not in project {web}"))),
        "{}",
        wrong.1
    );
    let ids = format!("[\"{w1}\",\"{d1}\"]");
    let batch = call(
        &h,
        "ModifyHostsPort",
        &[
            ("HostIds", &ids),
            ("ProtocolName", "SSH"),
            ("Port", "2222"),
            ("ProjectId", &web),
        ],
    )
    .await;
    assert_error(&batch, 400, "InvalidParameter");
    let unknown = call(&h, "GetHost", &[("HostId", &w1), ("ProjectId", "999999")]).await;
    assert_error(&unknown, 404, "OBJECT_NOT_FOUND");
    let no_asset = call(&h, "ListUsers", &[("ProjectId", &web)]).await;
    assert_error(&no_asset, 400, "InvalidParameter");
    assert!(
        no_asset.1["Message"]
            .as_str()
            .is_some_and(|m| m.contains("leave it out")),
        "{}",
        no_asset.1
    );
    let policy = call(&h, "ListPolicies", &[("ProjectId", &web)]).await;
    assert_error(&policy, 400, "OperationNotSupported");
}
