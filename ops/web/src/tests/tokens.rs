//! O&M tokens through the portal: refused and audited when not granted, the tunnel
//! configuration when granted.

use super::*;

#[tokio::test]
async fn a_token_for_an_account_not_granted_is_refused_and_audited() {
    let (router, backend, alice) = portal();
    let db = portunus_model::NewDatabase {
        name: "payroll".into(),
        engine: portunus_model::DbEngine::MySql,
        address: "10.0.0.9".into(),
        port: 3306,
        source: Default::default(),
        source_instance_id: String::new(),
        comment: String::new(),
        network_domain_id: None,
        project_id: None,
    };
    let Response::Created { id: database_id } = backend.apply_now(Command::CreateDatabase(db))
    else {
        panic!("database");
    };
    let account = portunus_model::NewDatabaseAccount {
        database_id,
        name: "app".into(),
        password: None,
        comment: String::new(),
    };
    let Response::Created { id: account_id } =
        backend.apply_now(Command::CreateDatabaseAccount(account))
    else {
        panic!("account");
    };
    let (cookie, csrf, _, _) = login(&router, "alice").await;
    let ask = json!({ "database_id": database_id, "account_id": account_id });
    let a = send(
        &router,
        "POST",
        "/web/api/tokens",
        Some(&cookie),
        Some(&csrf),
        ask.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.get("token").is_none());
    let mut trail = Vec::new();
    backend.read(&mut |s| {
        trail = s
            .admin_audit()
            .entries()
            .map(|e| e.record.clone())
            .collect()
    });
    let entry = trail.last().expect("an entry");
    assert_eq!(
        (entry.action.as_str(), entry.user_id, entry.result.as_str()),
        (
            "GenerateAssetOperationToken",
            Some(alice),
            "Forbidden.NotAuthorized"
        )
    );

    // Granted, the same request gives the tunnel configuration.
    backend.apply_now(Command::AttachDatabaseAccounts {
        principal: portunus_model::Principal::User(alice),
        database_id,
        account_ids: [account_id].into(),
    });
    let a = send(
        &router,
        "POST",
        "/web/api/tokens",
        Some(&cookie),
        Some(&csrf),
        ask,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["port"], 60022);
    assert_eq!(a.body["token"].as_str().unwrap().len(), 64);
    assert_eq!(
        a.body["ssh_command"],
        "ssh -N -L 13306:10.0.0.9:3306 alice@bastion -p 60022"
    );
    assert_eq!(
        a.body["client_command"],
        "mysql -h 127.0.0.1 -P 13306 -u app"
    );

    // Renewing it: only with the page's CSRF token, only by its owner.
    let token_id = a.body["token_id"].as_u64().unwrap();
    assert_eq!(a.body["renews_left"], 3, "{}", a.body);
    let renew = format!("/web/api/tokens/{token_id}/renew");
    let forged = send(&router, "POST", &renew, Some(&cookie), None, json!({})).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    let (bob_cookie, bob_csrf) = login_bob(&router).await;
    let by_bob = send(
        &router,
        "POST",
        &renew,
        Some(&bob_cookie),
        Some(&bob_csrf),
        json!({}),
    )
    .await;
    assert_eq!(by_bob.status, StatusCode::FORBIDDEN, "{}", by_bob.body);
    let renewed = send(
        &router,
        "POST",
        &renew,
        Some(&cookie),
        Some(&csrf),
        json!({}),
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    assert_eq!(renewed.body["renews_left"], 2, "{}", renewed.body);
}
