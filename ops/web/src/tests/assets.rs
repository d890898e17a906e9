//! The portal's asset lists: paged and searched by the server, so that an engineer authorized
//! for thousands of hosts gets a page at a time.

use super::*;
use portunus_model::{NewHost, NewHostAccount, Principal, Protocol};

/// `n` hosts named `host-0000`... (addresses `10.1.x.y`), each with an SSH account granted
/// to `user`.
fn granted_hosts(backend: &FakeBackend, user: u64, n: usize) {
    for i in 0..n {
        let host = NewHost {
            name: format!("host-{i:04}"),
            private_address: format!("10.1.{}.{}", i / 256, i % 256),
            ..Default::default()
        };
        let Response::Created { id: host_id } = backend.apply_now(Command::CreateHost(host)) else {
            panic!("host {i}");
        };
        let account = NewHostAccount {
            host_id,
            name: "root".into(),
            protocol: Protocol::Ssh,
            password: None,
            private_key: None,
            shared_key_id: None,
            sftp_only: false,
        };
        let Response::Created { id: account_id } =
            backend.apply_now(Command::CreateHostAccount(account))
        else {
            panic!("account {i}");
        };
        let grant = Command::AttachHostAccounts {
            principal: Principal::User(user),
            host_id,
            account_ids: [account_id].into(),
        };
        assert!(backend.apply_now(grant).rejection().is_none());
    }
}

fn host_names(page: &Value) -> Vec<String> {
    page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_asset_lists_come_a_page_at_a_time_and_are_searched_by_the_server() {
    let (router, backend, alice) = portal();
    granted_hosts(&backend, alice, 120);
    let (cookie, _, _, _) = login(&router, "alice").await;
    let get = |path: String| {
        let router = router.clone();
        let cookie = cookie.clone();
        async move { send(&router, "GET", &path, Some(&cookie), None, Value::Null).await }
    };

    let first = get("/web/api/assets".into()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let hosts = &first.body["hosts"];
    assert_eq!(
        (&hosts["total"], &hosts["page"], &hosts["pages"]),
        (&json!(120), &json!(1), &json!(3))
    );
    let names = host_names(hosts);
    assert_eq!(names.len(), crate::portal::PORTAL_PAGE);
    assert_eq!(
        (names[0].as_str(), names[49].as_str()),
        ("host-0000", "host-0049")
    );
    assert_eq!(first.body["databases"]["total"], json!(0));

    // The last page holds the rest; a page past the end answers the last one.
    let last = get("/web/api/assets?hosts_page=3".into()).await;
    assert_eq!(host_names(&last.body["hosts"]).len(), 20);
    let past = get("/web/api/assets?hosts_page=9".into()).await;
    assert_eq!(past.body["hosts"]["page"], json!(3));
    assert_eq!(
        host_names(&past.body["hosts"]),
        host_names(&last.body["hosts"])
    );

    // A search matches names or addresses, any case, over the whole list.
    let found = get("/web/api/assets?hosts_q=HOST-011".into()).await;
    assert_eq!(
        host_names(&found.body["hosts"]),
        (110..120)
            .map(|i| format!("host-{i:04}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(found.body["hosts"]["total"], json!(10));
    let by_address = get("/web/api/assets?hosts_q=10.1.0.7".into()).await;
    assert_eq!(
        host_names(&by_address.body["hosts"]),
        vec![
            "host-0007",
            "host-0070",
            "host-0071",
            "host-0072",
            "host-0073",
            "host-0074",
            "host-0075",
            "host-0076",
            "host-0077",
            "host-0078",
            "host-0079"
        ]
    );

    // Bad parameters are refused, naming the parameter.
    for (query, named) in [
        ("hosts_page=0", "hosts_page"),
        ("databases_page=two", "databases_page"),
        ("hosts_size=500", "hosts_size"),
    ] {
        let a = get(format!("/web/api/assets?{query}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}: {}", a.body);
        assert!(
            a.body["error"].as_str().unwrap().contains(named),
            "{query}: {}",
            a.body
        );
    }
    let long = "x".repeat(101);
    let a = get(format!("/web/api/assets?hosts_q={long}")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
}
