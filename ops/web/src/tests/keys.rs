//! "My AccessKeys": an engineer makes Operator keys of their own (the secret shown once, kept
//! sealed), lists and deletes only their own, at most five, each act in the admin audit trail.

use super::*;
use portunus_model::Role;

fn trail(backend: &FakeBackend) -> Vec<(String, Option<u64>, String)> {
    let mut out = Vec::new();
    backend.read(&mut |s| {
        out = s
            .admin_audit()
            .entries()
            .map(|e| {
                (
                    e.record.action.clone(),
                    e.record.user_id,
                    e.record.result.clone(),
                )
            })
            .collect()
    });
    out
}

#[tokio::test]
async fn an_engineer_makes_lists_and_deletes_only_their_own_keys() {
    let (router, backend, alice) = portal();
    let (cookie, csrf, _, _) = login(&router, "alice").await;
    // A change needs the CSRF token.
    let a = send(
        &router,
        "POST",
        "/web/api/keys",
        Some(&cookie),
        None,
        json!({}),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);

    let made = send(
        &router,
        "POST",
        "/web/api/keys",
        Some(&cookie),
        Some(&csrf),
        json!({"comment": "deploy script"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let id = made.body["id"].as_str().unwrap().to_string();
    let secret = made.body["secret"].as_str().unwrap().to_string();
    assert!(id.starts_with("PTN") && id.len() == 24, "{id}");
    assert_eq!(secret.len(), 30);
    // Stored as an Operator key acting as alice, its secret sealed (opens to what was shown).
    let mut stored = None;
    backend.read(&mut |s| stored = s.access_key(&id).cloned());
    let stored = stored.expect("the key is stored");
    assert_eq!((stored.role, stored.user_id), (Role::Operator, Some(alice)));
    assert_eq!(stored.comment, "deploy script");
    let opened = backend
        .unseal(portunus_ops::api::ACCESS_KEY_PURPOSE, &stored.secret)
        .unwrap();
    assert_eq!(opened, secret.as_bytes());

    // Listed without its secret.
    let listed = send(
        &router,
        "GET",
        "/web/api/keys",
        Some(&cookie),
        None,
        json!(null),
    )
    .await;
    assert_eq!(listed.body["keys"][0]["id"], json!(id), "{}", listed.body);
    assert!(!listed.body.to_string().contains(&secret));

    // bob sees none of alice's keys and cannot delete them.
    let (bob_cookie, bob_csrf) = login_bob(&router).await;
    let bobs = send(
        &router,
        "GET",
        "/web/api/keys",
        Some(&bob_cookie),
        None,
        json!(null),
    )
    .await;
    assert_eq!(bobs.body["keys"], json!([]), "{}", bobs.body);
    let path = format!("/web/api/keys/{id}/delete");
    let refused = send(
        &router,
        "POST",
        &path,
        Some(&bob_cookie),
        Some(&bob_csrf),
        json!({}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
    let mut still = false;
    backend.read(&mut |s| still = s.access_key(&id).is_some());
    assert!(still, "bob deleted alice's key");

    // At most five.
    for _ in 0..4 {
        let a = send(
            &router,
            "POST",
            "/web/api/keys",
            Some(&cookie),
            Some(&csrf),
            json!({}),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    let sixth = send(
        &router,
        "POST",
        "/web/api/keys",
        Some(&cookie),
        Some(&csrf),
        json!({}),
    )
    .await;
    assert_eq!(sixth.status, StatusCode::BAD_REQUEST, "{}", sixth.body);
    assert!(sixth.body["error"]
        .as_str()
        .unwrap()
        .contains("delete one first"));

    // alice deletes her own.
    let gone = send(
        &router,
        "POST",
        &path,
        Some(&cookie),
        Some(&csrf),
        json!({}),
    )
    .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    let mut left = None;
    backend.read(&mut |s| left = Some(s.access_key(&id).is_some()));
    assert_eq!(left, Some(false));

    let acts: Vec<(String, Option<u64>, String)> = trail(&backend)
        .into_iter()
        .filter(|(a, _, _)| a.ends_with("AccessKey"))
        .collect();
    assert_eq!(acts.len(), 8, "{acts:?}");
    assert_eq!(
        acts[0],
        ("CreateAccessKey".into(), Some(alice), "OK".into())
    );
    assert_eq!(acts[1].0, "DeleteAccessKey");
    assert_ne!(
        acts[1].2, "OK",
        "bob's refused delete is audited as refused"
    );
    assert_eq!(
        acts[6],
        (
            "CreateAccessKey".into(),
            Some(alice),
            "InvalidParameter".into()
        )
    );
    assert_eq!(
        acts[7],
        ("DeleteAccessKey".into(), Some(alice), "OK".into())
    );
}
