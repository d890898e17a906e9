//! Single sign-on of the portal and console through a real OpenID provider (the certified
//! `oidc-provider` package, `node/tests/web/oidc_provider.mjs`, over TLS with its own CA) in a
//! real headless Chromium (`node/tests/web/sso.py`): a user the provider vouches for lands in
//! the portal (or the console) as that user; a name the bastion does not know is refused until
//! automatic creation is on, which creates it (source IDaaS) for its subject alone (another
//! account claiming the name is refused); a locked user is refused; a user with two-factor on
//! still owes the code; an answer that belongs to no login is refused.

use crate::fixture::*;
use portunus_model::{Command, OidcSettings, Role, UserSource};
use portunus_node::testing::{created, free_udp, node_config};
use portunus_ops::totp;
use portunus_proxy::testing::openssh::{free_port, wait_listening};
use serde_json::json;
use std::collections::BTreeMap;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SSO_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/web/sso.py");
const PROVIDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/web/oidc_provider.mjs");
const CLIENT_SECRET: &str = "portunus-client-secret-of-the-sso-test";

/// The provider, listening on `port` with the certificate in `dir`.
async fn provider(dir: &std::path::Path, port: u16, redirect: &str) -> tokio::process::Child {
    let issuer = format!("https://127.0.0.1:{port}");
    let config = json!({
        "issuer": issuer, "port": port,
        "cert": dir.join("cert.pem"), "key": dir.join("key.pem"),
        "clients": [{
            "client_id": "portunus", "client_secret": CLIENT_SECRET,
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code"], "response_types": ["code"],
        }],
    });
    let mut child = tokio::process::Command::new("node")
        .args([PROVIDER, &config.to_string()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node (scripts/test.sh installs nodejs and oidc-provider)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("the provider listening in time")
        .unwrap();
    assert!(
        first.as_deref().is_some_and(|l| l.contains("listening")),
        "the provider did not start: {first:?} (is oidc-provider installed under $PORTUNUS_NPM? \
         scripts/test.sh installs it)"
    );
    // Whatever else it prints is read (a closed pipe would end it).
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// A GET of `path` without cookies: (status, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    (status, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_sign_on_through_an_openid_provider() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let peers: BTreeMap<u64, String> = [(1, free_udp().to_string())].into();
    let mut config = node_config(1, dir.path(), &peers);
    config.oidc_ca = Some(dir.path().join("cert.pem"));
    let mut node = portunus_node::start(config).await.unwrap();
    node.registered().await;
    let r = &node.replica;
    let api = node.api_addr.unwrap();
    let base = base(&node);

    // Before single sign-on is set up the login page offers none, and its paths say so.
    let (status, body) = get(api, "/web/api/oidc/login").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("single sign-on is not set up"), "{body}");

    let alice = created(r.propose(user("alice", ALICE_PASSWORD, false)).await);
    let secret = node
        .seal(portunus_ops::api::ACCESS_KEY_PURPOSE, b"unused-secret")
        .unwrap();
    r.propose(Command::CreateAccessKey {
        access_key_id: "key-of-alice".into(),
        secret,
        role: Role::Admin,
        user_id: Some(alice),
        comment: String::new(),
    })
    .await
    .unwrap();
    let dave = created(r.propose(user("dave", "dave-Passw0rd", false)).await);
    r.propose(Command::LockUsers {
        user_ids: vec![dave],
    })
    .await
    .unwrap();
    let bob = created(r.propose(user("bob", BOB_PASSWORD, true)).await);
    let sealed = node
        .seal(portunus_model::seal_purpose::TOTP_SECRET, BOB_SECRET)
        .unwrap();
    r.propose(Command::EnrollTotp {
        user_id: bob,
        secret: sealed.clone(),
        recovery_codes: Vec::new(),
    })
    .await
    .unwrap();
    r.propose(Command::ConfirmTotp {
        user_id: bob,
        secret: sealed,
        step: totp::step_of(now_ms()) - 1,
    })
    .await
    .unwrap();

    let port = free_port();
    let redirect = format!("{base}/web/api/oidc/callback");
    let _provider = provider(dir.path(), port, &redirect).await;
    wait_listening(port).await;
    let mut settings = OidcSettings {
        enabled: true,
        issuer: format!("https://127.0.0.1:{port}"),
        client_id: "portunus".into(),
        client_secret: Some(
            node.seal(
                portunus_model::seal_purpose::OIDC_CLIENT_SECRET,
                CLIENT_SECRET.as_bytes(),
            )
            .unwrap(),
        ),
        scopes: "profile email".into(),
        display_name: "Test IdP".into(),
        ..Default::default()
    };
    r.propose(Command::SetOidcSettings(Some(settings.clone())))
        .await
        .unwrap();

    // An answer that belongs to no login begun in this browser.
    let (status, body) = get(api, "/web/api/oidc/callback?state=forged&code=stolen").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("not started in this browser"), "{body}");

    let args = json!({
        "base": base, "provider": format!("https://127.0.0.1:{port}"),
        "bob_totp": totp::base32(BOB_SECRET),
    });
    let mut browser = Browser::start_script(SSO_SCRIPT, "sso", &args);
    let alice_in = browser.expect("alice").await;
    assert_eq!(alice_in["button"], "Log on with Test IdP", "{alice_in}");
    assert_eq!(alice_in["listing"]["user"], "alice", "{alice_in}");
    assert!(
        alice_in["url"].as_str().unwrap().ends_with("/web/"),
        "{alice_in}"
    );
    assert_eq!(alice_in["cookie"]["httpOnly"], true, "{alice_in}");
    assert_eq!(
        alice_in["pending"],
        json!([]),
        "the pending login's cookie is cleared: {alice_in}"
    );

    let unknown = browser.expect("unknown").await;
    let words = unknown["error"].as_str().unwrap();
    assert!(
        words.contains("no bastion user is named \"mallory\"")
            && words.contains("automatic creation is off"),
        "{unknown}"
    );
    assert_eq!(unknown["cookie"], serde_json::Value::Null, "{unknown}");
    let mallory = r.view().read(|s| s.user_by_name("mallory").is_some());
    assert!(!mallory, "a refused name was created");

    settings.auto_create = true;
    r.propose(Command::SetOidcSettings(Some(settings.clone())))
        .await
        .unwrap();
    browser.tell("auto-create on").await;
    let created_in = browser.expect("created").await;
    assert_eq!(created_in["listing"]["user"], "erin", "{created_in}");
    let erin = r.view().read(|s| {
        s.user_by_name("erin").map(|u| {
            (
                u.source,
                u.email.clone(),
                u.source_user_id.clone(),
                u.password_hash.is_some(),
            )
        })
    });
    assert_eq!(
        erin,
        Some((
            UserSource::Idaas,
            "erin@example.org".to_string(),
            "erin".to_string(),
            false
        ))
    );

    let impostor = browser.expect("impostor").await;
    assert!(
        impostor["error"]
            .as_str()
            .unwrap()
            .contains("belongs to another account of the provider"),
        "{impostor}"
    );
    assert_eq!(impostor["cookie"], serde_json::Value::Null, "{impostor}");

    let locked = browser.expect("locked").await;
    assert!(
        locked["error"].as_str().unwrap().contains("locked"),
        "{locked}"
    );
    assert_eq!(locked["cookie"], serde_json::Value::Null, "{locked}");

    let bob_in = browser.expect("bob").await;
    assert_eq!(bob_in["listing"]["user"], "bob", "{bob_in}");

    let console = browser.expect("console").await;
    assert!(
        console["url"].as_str().unwrap().ends_with("/web/console/"),
        "{console}"
    );
    browser.finished().await;

    // Turned off: the button goes, and so does the way to the provider (a callback of a login
    // begun before is refused too: ops/web/src/tests/sso.rs).
    settings.enabled = false;
    r.propose(Command::SetOidcSettings(Some(settings)))
        .await
        .unwrap();
    let (status, body) = get(api, "/web/api/oidc/config").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"enabled\":false"), "{body}");
    let (status, body) = get(api, "/web/api/oidc/login").await;
    assert_eq!(status, 404, "{body}");
    node.stop().await;
}
