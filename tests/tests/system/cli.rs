//! The operator's command line against a real node: AccessKeys created and listed with the
//! cluster secret, then used by the official SDK with their role enforced; session termination.
//! `portunus admin` (the API client) managing users, assets, grants and tokens, its errors, and
//! the node's checks of signed requests (replay, also to another node of a cluster, tampering,
//! clock, unknown action, parameters, body size).

use portunus_tests::sdk::{admin_key_env, ADMIN_KEY_ID, ADMIN_KEY_SECRET};
use portunus_tests::{created, portunus_bin, wait_until, ProcCluster};
use std::process::Command;
use std::time::Duration;

const START: Duration = Duration::from_secs(30);

fn cli(c: &ProcCluster, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(portunus_bin())
        .args(["cluster", "--via", &c.nodes[0].cluster.to_string()])
        .args(args)
        .env("PORTUNUS_CLUSTER_SECRET", &c.secret)
        .env("PORTUNUS_SEAL_KEY_FILE", &c.seal_key_file)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

const SDK_AS_AUDITOR: &str = r#"
import os, sys
from alibabacloud_tea_openapi import models as om
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_yundun_bastionhost20191209.client import Client
from alibabacloud_yundun_bastionhost20191209 import models as m
c = Client(om.Config(access_key_id=os.environ["AK"], access_key_secret=os.environ["SK"],
                     endpoint=os.environ["EP"], protocol="http", region_id="portunus"))
iid = c.describe_instances(m.DescribeInstancesRequest()).body.instances[0].instance_id
c.list_hosts(m.ListHostsRequest(instance_id=iid))
try:
    c.create_host(m.CreateHostRequest(instance_id=iid, host_name="x", source="Local", ostype="Linux",
                  active_address_type="Private", host_private_address="10.0.0.1"))
    sys.exit("an auditor created a host")
except ClientException as e:
    print("refused:", e.code)
"#;

#[test]
fn access_keys_from_the_command_line_work_with_the_sdk() {
    let mut c = ProcCluster::new(1).unwrap();
    c.spawn(1, &[]).unwrap();
    c.wait_stable(START).unwrap();
    let (ok, out, err) = cli(
        &c,
        &["create-access-key", "--role", "auditor", "--comment", "ci"],
    );
    assert!(ok, "{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    let (id, secret) = (field("access key id:"), field("access key secret:"));
    let (ok, listed, err) = cli(&c, &["list-access-keys"]);
    assert!(ok, "{err}");
    assert!(
        listed.contains(&id) && listed.contains("Auditor"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "secrets are never listed");

    let run = Command::new("python3")
        .args(["-c", SDK_AS_AUDITOR])
        .env("AK", &id)
        .env("SK", &secret)
        .env("EP", c.nodes[0].api.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("refused:"), "{stdout}");

    let (ok, _, err) = cli(&c, &["create-access-key", "--role", "root"]);
    assert!(!ok && err.contains("--role"), "{err}");
    let (ok, _, err) = cli(&c, &["terminate-session", "424242"]);
    assert!(!ok && err.contains("424242"), "{err}");
}

/// `portunus admin ARGS...` with `env` (AccessKey variables), its endpoint node 1's API
/// (`PORTUNUS_ENDPOINT`, which `--endpoint` overrides).
fn admin_env(c: &ProcCluster, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let endpoint = format!("http://{}", c.nodes[0].api);
    let out = Command::new(portunus_bin())
        .arg("admin")
        .args(args)
        .env_remove("PORTUNUS_ACCESS_KEY_ID")
        .env_remove("PORTUNUS_ACCESS_KEY_SECRET")
        .env_remove("PORTUNUS_DATA_DIR")
        .env("PORTUNUS_ENDPOINT", endpoint)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// `portunus admin` with the first administrator's key read from node 1's data directory;
/// panics unless it succeeds, returns its standard output.
fn admin_ok(c: &ProcCluster, args: &[&str]) -> String {
    let dir = c.nodes[0].data_dir.to_string_lossy().to_string();
    let mut all = vec!["--data-dir", dir.as_str()];
    all.extend_from_slice(args);
    let (ok, out, err) = admin_env(c, &[], &all);
    assert!(ok, "portunus admin {args:?} failed: {err}");
    out
}

fn started_with_admin() -> ProcCluster {
    let mut c = ProcCluster::new(1).unwrap();
    c.env = admin_key_env();
    c.spawn(1, &[]).unwrap();
    c.wait_stable(START).unwrap();
    let node = &c.nodes[0];
    wait_until("the first administrator", START, || {
        node.data_dir.join("admin-credentials.toml").exists()
    })
    .unwrap();
    c
}

#[test]
fn the_admin_command_line_manages_users_assets_grants_and_tokens() {
    let c = started_with_admin();

    let alice = created(&admin_ok(
        &c,
        &["user", "create", "alice", "--password", "Al1ce-pass!"],
    ));
    // An admin key of alice's own opens the web console to her as an Admin.
    let (ok, out, err) = cli(
        &c,
        &["create-access-key", "--role", "admin", "--user-id", &alice],
    );
    assert!(ok && out.contains("access key id:"), "{out}{err}");
    let (ok, listed, err) = cli(&c, &["list-access-keys"]);
    assert!(ok, "{err}");
    let keys: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let alice_id: u64 = alice.parse().unwrap();
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .any(|k| k["user_id"] == alice_id && k["role"] == "Admin"),
        "{listed}"
    );
    let users = admin_ok(&c, &["user", "list"]);
    assert!(users.lines().next().unwrap().starts_with("ID"), "{users}");
    assert!(
        users.contains("alice") && users.contains("admin"),
        "{users}"
    );

    let db = created(&admin_ok(
        &c,
        &[
            "database",
            "create",
            "orders",
            "--type",
            "MySQL",
            "--address",
            "127.0.0.1",
            "--port",
            "3306",
        ],
    ));
    let app = created(&admin_ok(
        &c,
        &[
            "database",
            "add-account",
            "orders",
            "app",
            "--password",
            "pw",
        ],
    ));
    let host = created(&admin_ok(
        &c,
        &["host", "create", "web-01", "--address", "127.0.0.1"],
    ));
    created(&admin_ok(
        &c,
        &["host", "add-account", &host, "root", "--password", "pw"],
    ));
    assert!(admin_ok(&c, &["database", "accounts", &db]).contains("app"));
    assert!(admin_ok(&c, &["host", "list"]).contains("web-01"));
    // An SFTP-only account, made and freed by name; shown by the API.
    let drop = created(&admin_ok(
        &c,
        &[
            "host",
            "add-account",
            "web-01",
            "drop",
            "--password",
            "pw",
            "--sftp-only",
        ],
    ));
    let sftp_only = |c: &ProcCluster| {
        let shown = admin_ok(
            c,
            &[
                "--json",
                "call",
                "GetHostAccount",
                &format!("HostAccountId={drop}"),
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&shown).expect("JSON");
        v["HostAccount"]["SftpOnly"].clone()
    };
    assert_eq!(sftp_only(&c), serde_json::Value::Bool(true));
    let out = admin_ok(&c, &["host", "sftp-only", "web-01", "drop", "false"]);
    assert!(out.contains("no longer limited to SFTP"), "{out}");
    assert_eq!(sftp_only(&c), serde_json::Value::Bool(false));
    // The trusted target host key: none before a first login, set and forgotten by the admin.
    assert!(admin_ok(&c, &["host", "fingerprint", "web-01"]).contains("no trusted fingerprint"));
    let fp = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
    let out = admin_ok(&c, &["host", "fingerprint", "web-01", "--set", fp]);
    assert!(out.contains(fp), "{out}");
    let dir = c.nodes[0].data_dir.to_string_lossy().to_string();
    let bad = [
        "--data-dir",
        &dir,
        "host",
        "fingerprint",
        "web-01",
        "--set",
        "SHA256:nope",
    ];
    let (ok, _, err) = admin_env(&c, &[], &bad);
    assert!(!ok && err.contains("HostFingerPrint"), "{err}");
    assert!(admin_ok(&c, &["host", "fingerprint", "web-01"]).contains(fp));
    let out = admin_ok(&c, &["host", "fingerprint", "web-01", "--forget"]);
    assert!(out.contains("no trusted fingerprint"), "{out}");

    // Names and ids are interchangeable.
    admin_ok(
        &c,
        &["grant", "database", "alice", "orders", "--account", &app],
    );
    admin_ok(
        &c,
        &["grant", "host", &alice, "web-01", "--account", "root"],
    );
    let grants = admin_ok(&c, &["grant", "list", "alice"]);
    for want in ["orders", "app", "web-01", "root"] {
        assert!(grants.contains(want), "{want} not in {grants}");
    }

    let issued = admin_ok(
        &c,
        &[
            "token",
            "generate",
            "--database",
            "orders",
            "--account",
            "app",
            "--user",
            "alice",
        ],
    );
    let field = |name: &str| {
        issued
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {issued}"))
    };
    let (token_id, token) = (field("token id:"), field("token:"));
    assert_eq!(token.len(), 64, "{issued}");
    admin_ok(&c, &["token", "renew", &token_id]);
    let listed: serde_json::Value =
        serde_json::from_str(&admin_ok(&c, &["--json", "token", "list", "alice"])).unwrap();
    let tokens = listed.as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{listed}");
    assert_eq!(tokens[0]["TokenId"], token_id.as_str());
    assert_eq!(tokens[0]["AssetName"], "orders");
    assert_eq!(tokens[0]["RenewCount"], 1);
    assert!(
        !listed.to_string().contains(&token),
        "token text is never listed"
    );
    assert!(admin_ok(&c, &["token", "list", "alice"]).contains("orders"));

    admin_ok(&c, &["user", "lock", "alice"]);
    let users: serde_json::Value = serde_json::from_str(&admin_ok(
        &c,
        &["--json", "user", "list", "--name", "alice"],
    ))
    .unwrap();
    assert_eq!(users[0]["UserState"][0], "Locked", "{users}");
    admin_ok(&c, &["user", "unlock", "alice"]);

    // The bootstrap key given explicitly (environment) acts as `admin`: with no --user the
    // token is admin's, so admin needs the authorization.
    admin_ok(
        &c,
        &["grant", "host", "admin", "web-01", "--account", "root"],
    );
    let key = [
        ("PORTUNUS_ACCESS_KEY_ID", ADMIN_KEY_ID),
        ("PORTUNUS_ACCESS_KEY_SECRET", ADMIN_KEY_SECRET),
    ];
    let (ok, out, err) = admin_env(
        &c,
        &key,
        &["token", "generate", "--host", "web-01", "--account", "root"],
    );
    assert!(ok && out.contains("token:"), "{out}{err}");
}

#[test]
fn admin_command_line_errors_are_clear_and_fail() {
    let c = started_with_admin();
    let fails = |env: &[(&str, &str)], args: &[&str], wants: &[&str]| {
        let (ok, out, err) = admin_env(&c, env, args);
        assert!(!ok, "{args:?} succeeded: {out}");
        for w in wants {
            assert!(err.contains(w), "{args:?}: '{w}' not in {err}");
        }
    };
    let unknown = [
        ("PORTUNUS_ACCESS_KEY_ID", "PTNnosuchkey"),
        ("PORTUNUS_ACCESS_KEY_SECRET", "whatever"),
    ];
    fails(
        &unknown,
        &["user", "list"],
        &["SignatureDoesNotMatch:", "AccessKey id and secret"],
    );
    let wrong_secret = [
        ("PORTUNUS_ACCESS_KEY_ID", ADMIN_KEY_ID),
        ("PORTUNUS_ACCESS_KEY_SECRET", "not-the-secret"),
    ];
    fails(
        &wrong_secret,
        &["user", "list"],
        &["SignatureDoesNotMatch:", "AccessKey id and secret"],
    );
    fails(&[], &["user", "list"], &["no AccessKey", "--access-key-id"]);

    let key = [
        ("PORTUNUS_ACCESS_KEY_ID", ADMIN_KEY_ID),
        ("PORTUNUS_ACCESS_KEY_SECRET", ADMIN_KEY_SECRET),
    ];
    fails(
        &key,
        &["call", "NoSuchAction"],
        &["InvalidAction.NotFound:"],
    );
    fails(
        &key,
        &["call", "CreateUser", "UserName=bob"],
        &["MissingParameter:", "\"Source\""],
    );
    fails(&key, &["call", "GetUser", "UserId=424242"], &["424242"]);
    fails(&key, &["token", "renew", "424242"], &["424242"]);
    fails(
        &key,
        &["grant", "list", "nobody"],
        &["no user named 'nobody'"],
    );
    fails(
        &key,
        &[
            "database",
            "create",
            "x",
            "--type",
            "Redis",
            "--address",
            "h",
            "--port",
            "1",
        ],
        &["InvalidParameter:", "DatabaseType"],
    );
    // A key that belongs to no user must name the token's user.
    let out = c
        .cli(
            c.nodes[0].cluster,
            &["create-access-key", "--role", "admin"],
        )
        .unwrap();
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap()
    };
    let (id, secret) = (field("access key id:"), field("access key secret:"));
    let userless = [
        ("PORTUNUS_ACCESS_KEY_ID", id.as_str()),
        ("PORTUNUS_ACCESS_KEY_SECRET", secret.as_str()),
    ];
    let (ok, out, err) = admin_env(
        &c,
        &userless,
        &["host", "create", "h1", "--address", "10.0.0.1"],
    );
    assert!(ok, "{err}");
    let host = created(&out);
    fails(
        &userless,
        &["token", "generate", "--host", &host, "--account", "root"],
        &["Forbidden:", "UserId"],
    );
    // https without a trusted certificate is refused before anything is sent.
    let https = format!("https://{}", c.nodes[0].api);
    fails(
        &key,
        &["--endpoint", &https, "user", "list"],
        &["--insecure", "--ca-file"],
    );
    // An https client against a plain-HTTP node says what to do.
    fails(
        &key,
        &["--endpoint", &https, "--insecure", "user", "list"],
        &["TLS", "http://"],
    );
}

/// Sends `POST /?query` with these headers and `body` (a form body when not empty) to `api`
/// over a fresh connection; returns the status and the JSON answer.
fn send_raw(
    api: std::net::SocketAddr,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(api).unwrap();
    let mut req = format!("POST /?{query} HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("content-type: application/x-www-form-urlencoded\r\n");
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    s.write_all(req.as_bytes()).unwrap();
    // The node may answer (and stop reading) before the whole body is sent.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw);
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {raw:?}"));
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or_default())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn admin_creds() -> portunus_ops::client::Credentials {
    portunus_ops::client::Credentials {
        access_key_id: ADMIN_KEY_ID.into(),
        access_key_secret: ADMIN_KEY_SECRET.into(),
    }
}

/// `action` with `params`, signed now with a fresh nonce by the first administrator for `api`
/// and sent there.
fn signed_call(
    api: std::net::SocketAddr,
    action: &str,
    params: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    use portunus_ops::client::{new_nonce, sign_request};
    let r = sign_request(
        &admin_creds(),
        &api.to_string(),
        action,
        params,
        now_ms(),
        &new_nonce(),
    )
    .unwrap();
    send_raw(api, &r.query, &r.headers, b"")
}

/// Requests signed like the SDK's, sent as they are or altered, to a real node.
#[test]
fn signed_requests_are_checked_by_a_real_node() {
    use portunus_ops::client::{new_nonce, sign_request};
    let c = started_with_admin();
    let api = c.nodes[0].api;
    let send = |query: &str, headers: &[(String, String)]| send_raw(api, query, headers, b"");
    let creds = admin_creds();
    let now = now_ms();
    let host = api.to_string();
    let nonce = new_nonce();
    let r = sign_request(
        &creds,
        &host,
        "ListUsers",
        &[("PageSize", "5")],
        now,
        &nonce,
    )
    .unwrap();
    let (status, body) = send(&r.query, &r.headers);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Users"][0]["UserName"], "admin", "{body}");
    // The same nonce again is a replay.
    let (status, body) = send(&r.query, &r.headers);
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureNonceUsed")),
        "{body}"
    );
    // A parameter changed after signing.
    let r = sign_request(
        &creds,
        &host,
        "ListUsers",
        &[("PageSize", "5")],
        now,
        &new_nonce(),
    )
    .unwrap();
    let (status, body) = send(&r.query.replace('5', "6"), &r.headers);
    assert_eq!(
        (status, body["Code"].as_str()),
        (403, Some("SignatureDoesNotMatch")),
        "{body}"
    );
    // Signed an hour ago.
    let old = now - 3_600_000;
    let r = sign_request(&creds, &host, "ListUsers", &[], old, &new_nonce()).unwrap();
    let (_, body) = send(&r.query, &r.headers);
    assert_eq!(body["Code"], "InvalidTimeStamp.Expired", "{body}");
    // Unknown action, missing parameter, unknown entity.
    for (action, params, code) in [
        ("NoSuchAction", vec![], "InvalidAction.NotFound"),
        ("GetUser", vec![], "MissingParameter"),
        ("GetUser", vec![("UserId", "424242")], "OBJECT_NOT_FOUND"),
    ] {
        let r = sign_request(&creds, &host, action, &params, now, &new_nonce()).unwrap();
        let (status, body) = send(&r.query, &r.headers);
        assert_ne!(status, 200, "{body}");
        assert_eq!(body["Code"], code, "{action}: {body}");
        assert!(
            body["Message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    // Parameters of the wrong type, on a read and on a write: refused, nothing created.
    let (status, body) = signed_call(api, "ListUsers", &[("PageSize", "abc")]);
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidParameter")),
        "{body}"
    );
    assert!(
        body["Message"].as_str().unwrap().contains("PageSize"),
        "{body}"
    );
    let wrong_type = [
        ("UserName", "typo"),
        ("Source", "Local"),
        ("EffectiveStartTime", "tomorrow"),
    ];
    let (status, body) = signed_call(api, "CreateUser", &wrong_type);
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidParameter")),
        "{body}"
    );
    // A form body over the 1 MiB limit: refused before anything else, nothing created.
    let r = sign_request(
        &creds,
        &host,
        "CreateUserGroup",
        &[],
        now_ms(),
        &new_nonce(),
    )
    .unwrap();
    let mut big = b"UserGroupName=big&Comment=".to_vec();
    big.resize(1024 * 1024 + 1, b'a');
    let (status, body) = send_raw(api, &r.query, &r.headers, &big);
    assert_eq!(
        (status, body["Code"].as_str()),
        (413, Some("RequestBodyTooLarge")),
        "{body}"
    );
    let (status, users) = signed_call(api, "ListUsers", &[]);
    assert_eq!(status, 200, "{users}");
    assert_eq!(users["TotalCount"], 1, "only the administrator: {users}");
    let (status, groups) = signed_call(api, "ListUserGroups", &[]);
    assert_eq!(
        (status, groups["TotalCount"].as_u64()),
        (200, Some(0)),
        "{groups}"
    );
}

/// A signed request captured on its way to one node and replayed to the others: every node
/// refuses it as the first node does, and it runs once.
#[test]
fn a_request_replayed_to_other_nodes_is_refused() {
    use portunus_ops::client::{new_nonce, sign_request};
    let mut c = ProcCluster::new(3).unwrap();
    c.env = admin_key_env();
    c.spawn_all().unwrap();
    c.wait_stable(START).unwrap();
    let apis: Vec<_> = c.nodes.iter().map(|n| n.api).collect();
    // Every node knows the first administrator's key.
    for api in &apis {
        wait_until("the administrator key on every node", START, || {
            signed_call(*api, "ListUsers", &[]).0 == 200
        })
        .unwrap();
    }
    let r = sign_request(
        &admin_creds(),
        &apis[0].to_string(),
        "CreateUserGroup",
        &[("UserGroupName", "once")],
        now_ms(),
        &new_nonce(),
    )
    .unwrap();
    let (status, body) = send_raw(apis[0], &r.query, &r.headers, b"");
    assert_eq!(status, 200, "{body}");
    for api in [apis[1], apis[2], apis[0]] {
        let (status, body) = send_raw(api, &r.query, &r.headers, b"");
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some("SignatureNonceUsed")),
            "replayed to {api}: {body}"
        );
    }
    // A read replayed elsewhere is refused too.
    let read = sign_request(
        &admin_creds(),
        &apis[1].to_string(),
        "ListUserGroups",
        &[],
        now_ms(),
        &new_nonce(),
    )
    .unwrap();
    let (status, body) = send_raw(apis[1], &read.query, &read.headers, b"");
    assert_eq!(status, 200, "{body}");
    let (status, body) = send_raw(apis[2], &read.query, &read.headers, b"");
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureNonceUsed")),
        "{body}"
    );
    // One group, seen from every node.
    for api in &apis {
        let (status, groups) = signed_call(*api, "ListUserGroups", &[]);
        assert_eq!(status, 200, "{groups}");
        assert_eq!(groups["TotalCount"], 1, "{api}: {groups}");
        assert_eq!(groups["UserGroups"][0]["UserGroupName"], "once", "{groups}");
    }
}

/// A node serving its API over https with its self-signed certificate (the default), killed
/// when dropped.
struct HttpsNode {
    child: std::process::Child,
    data_dir: std::path::PathBuf,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for HttpsNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn https_node() -> HttpsNode {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let api = portunus_tests::free_tcp();
    let log = std::fs::File::create(dir.path().join("node.log")).unwrap();
    let child = Command::new(portunus_bin())
        .arg("up")
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--cluster-listen", &portunus_tests::free_udp().to_string()])
        .args(["--api-listen", &api.to_string()])
        .args(["--ssh-listen", &portunus_tests::free_tcp().to_string()])
        .args(["--mysql-listen", "off"])
        .args(["--postgres-listen", "off"])
        .env(
            "PORTUNUS_CLUSTER_SECRET",
            "https-test-cluster-secret-0123456789",
        )
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let node = HttpsNode {
        child,
        data_dir,
        endpoint: format!("https://{api}"),
        _dir: dir,
    };
    let creds = node.data_dir.join("admin-credentials.toml");
    wait_until("the first administrator", START, || creds.exists()).unwrap();
    node
}

#[test]
fn admin_over_https_trusts_the_node_certificate_only_when_told() {
    let node = https_node();
    let run = |args: &[&str]| {
        let out = Command::new(portunus_bin())
            .args(["admin", "--endpoint", &node.endpoint])
            .args(args)
            .env_remove("PORTUNUS_ACCESS_KEY_ID")
            .env_remove("PORTUNUS_ACCESS_KEY_SECRET")
            .env_remove("PORTUNUS_DATA_DIR")
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let dir = node.data_dir.to_string_lossy().to_string();
    // --data-dir: the node's key and its pinned self-signed certificate.
    let mut listed = (false, String::new(), String::new());
    wait_until("the API over https", START, || {
        listed = run(&["--data-dir", &dir, "user", "list"]);
        listed.0
    })
    .unwrap_or_else(|e| panic!("{e}: {}", listed.2));
    assert!(listed.1.contains("admin"), "{}", listed.1);

    let text = std::fs::read_to_string(node.data_dir.join("admin-credentials.toml")).unwrap();
    let value = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap()
    };
    let (id, secret) = (value("access_key_id"), value("access_key_secret"));
    let key = ["--access-key-id", &id, "--access-key-secret", &secret];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = key.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&["host", "list"]);
        run(&args)
    };
    let (ok, _, err) = with(&[]);
    assert!(
        !ok && err.contains("--insecure") && err.contains("--ca-file"),
        "{err}"
    );
    let cert = node.data_dir.join("api-tls-cert.pem");
    let (ok, out, err) = with(&["--ca-file", cert.to_str().unwrap()]);
    assert!(ok && out.starts_with("ID"), "{err}");
    let (ok, _, err) = with(&["--insecure"]);
    assert!(ok, "{err}");
    let system = "/etc/ssl/certs/ca-certificates.crt";
    if std::path::Path::new(system).exists() {
        let (ok, _, err) = with(&["--ca-file", system]);
        assert!(
            !ok && err.contains("TLS") && err.contains("--insecure"),
            "{err}"
        );
    }
}

/// Administrative calls leave the hash-chained trail: a raw signed CreateUser with a password
/// and a token issued for another user appear with the caller's key, source address and result,
/// without the password, the account password or the token; a refused call is recorded with
/// its error code; `portunus admin audit verify` walks the chain.
#[test]
fn administrative_calls_leave_a_verifiable_trail_without_secrets() {
    let c = started_with_admin();
    let api = c.nodes[0].api;
    let password = "Tr41l-Us3r-S3cret!";
    let account_password = "H0st-Acc0unt-S3cret";
    let create = [
        ("UserName", "carol"),
        ("Source", "Local"),
        ("Password", password),
    ];
    let (status, body) = signed_call(api, "CreateUser", &create);
    assert_eq!(status, 200, "{body}");
    let carol = body["UserId"].as_str().unwrap().to_string();
    let (status, body) = signed_call(api, "CreateUser", &create);
    assert_ne!(status, 200, "a second carol: {body}");
    let refused_code = body["Code"].as_str().unwrap().to_string();

    admin_ok(&c, &["host", "create", "web-01", "--address", "127.0.0.1"]);
    created(&admin_ok(
        &c,
        &[
            "host",
            "add-account",
            "web-01",
            "root",
            "--password",
            account_password,
        ],
    ));
    admin_ok(
        &c,
        &["grant", "host", "carol", "web-01", "--account", "root"],
    );
    let issued = admin_ok(
        &c,
        &[
            "token",
            "generate",
            "--host",
            "web-01",
            "--account",
            "root",
            "--user",
            "carol",
        ],
    );
    let token = issued
        .lines()
        .find_map(|l| l.strip_prefix("token:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no token in {issued}"));
    assert_eq!(token.len(), 64, "{issued}");

    let text = admin_ok(&c, &["--json", "audit", "list"]);
    for secret in [password, account_password, token.as_str()] {
        assert!(!text.contains(secret), "a secret is in the trail: {text}");
    }
    let trail: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entries = trail.as_array().unwrap();
    let of = |action: &str| -> Vec<&serde_json::Value> {
        entries
            .iter()
            .filter(|e| e["ActionName"] == action)
            .collect()
    };
    let creates = of("CreateUser");
    assert_eq!(creates.len(), 2, "{trail}");
    // Newest first: the refused one, then the one that created carol.
    let (refused, done) = (creates[0], creates[1]);
    assert_eq!(done["Result"], "OK", "{done}");
    assert_eq!(refused["Result"], refused_code.as_str(), "{refused}");
    assert_eq!(done["AccessKeyId"], ADMIN_KEY_ID, "{done}");
    assert_eq!(done["Role"], "Admin", "{done}");
    assert!(
        done["Source"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{done}"
    );
    assert_eq!(done["Parameters"]["UserName"], "carol", "{done}");
    assert_eq!(done["Parameters"]["Password"], "<redacted>", "{done}");
    assert!(done["Time"].as_u64().unwrap() > 0, "{done}");

    let tokens = of("GenerateAssetOperationToken");
    assert_eq!(tokens.len(), 1, "{trail}");
    let t = tokens[0];
    assert_eq!(t["Result"], "OK", "{t}");
    assert_eq!(t["Parameters"]["UserId"], carol.as_str(), "{t}");
    let issuer = t["AccessKeyId"].as_str().unwrap();
    assert!(!issuer.is_empty(), "{t}");
    let accounts = of("CreateHostAccount");
    assert_eq!(accounts.len(), 1, "{trail}");
    assert_eq!(accounts[0]["Parameters"]["Password"], "<redacted>");
    // Sequence numbers count down by one, newest first: nothing is missing.
    let seqs: Vec<u64> = entries.iter().map(|e| e["Seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] == w[1] + 1), "{seqs:?}");
    assert!(entries.iter().all(|e| e["ActionName"] != "ListHosts"));

    // The token records who issued it.
    let listed: serde_json::Value =
        serde_json::from_str(&admin_ok(&c, &["--json", "token", "list", "carol"])).unwrap();
    assert_eq!(listed[0]["IssuedByAccessKeyId"], issuer, "{listed}");

    // Filters.
    let only: serde_json::Value = serde_json::from_str(&admin_ok(
        &c,
        &["--json", "audit", "list", "--action", "CreateUser"],
    ))
    .unwrap();
    assert_eq!(only.as_array().unwrap().len(), 2, "{only}");

    let verified = admin_ok(&c, &["audit", "verify"]);
    assert!(
        verified.contains("the admin audit chain verifies"),
        "{verified}"
    );
    let n = entries.len();
    assert!(
        verified.contains(&format!("recomputed {n} entries")),
        "{verified}"
    );
    // A head noted now stays in the chain as it grows; one that never was is refused.
    let noted: serde_json::Value =
        serde_json::from_str(&admin_ok(&c, &["--json", "audit", "verify"])).unwrap();
    let noted = noted["Head"].as_str().unwrap().to_string();
    admin_ok(&c, &["user", "create", "dave", "--password", "D4ve-pass!x"]);
    admin_ok(&c, &["audit", "verify", "--head", &noted]);
    let forged = "ab".repeat(32);
    let dir = c.nodes[0].data_dir.to_string_lossy().to_string();
    let args = ["--data-dir", &dir, "audit", "verify", "--head", &forged];
    let (ok, _, refused) = admin_env(&c, &[], &args);
    assert!(!ok, "a forged head verified");
    assert!(refused.contains("is not in the chain"), "{refused}");
}
