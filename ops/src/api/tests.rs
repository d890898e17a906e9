//! Router-level tests over the fake backend: signatures (tampering, expiry, replay to the same
//! and to another node), error JSON, RBAC, paging, no quorum, body limit and the OpenAPI
//! document.

use super::fake::FakeBackend;
use super::sign::{self, format_acs_date, sha256_hex};
use super::*;
use axum::http::{HeaderValue, Method, Request as HttpRequest};
use http_body_util::BodyExt;
use portunus_model::Role;
use serde_json::Value;
use tower::ServiceExt;

mod declared_params;
mod export;
mod folding;
mod hardening;
mod honoured;
mod projects;

const INSTANCE: &str = "portunus-test";

struct Harness {
    backend: Arc<FakeBackend>,
    metrics: Arc<Metrics>,
    router: Router,
}

fn harness() -> Harness {
    let backend = Arc::new(FakeBackend::new(INSTANCE));
    backend.add_access_key("admin", "admin-secret", Role::Admin, None);
    backend.add_access_key("auditor", "auditor-secret", Role::Auditor, None);
    let metrics = Arc::new(Metrics::new());
    let router = api_router(backend.clone(), metrics.clone());
    Harness {
        backend,
        metrics,
        router,
    }
}

/// Options for building a signed request the way the SDK does.
struct Req<'a> {
    ak: &'a str,
    secret: &'a str,
    action: &'a str,
    query: Vec<(&'a str, String)>,
    date_ms: u64,
    nonce: String,
    body: Vec<u8>,
    /// Sent (and signed) when set.
    content_type: Option<&'a str>,
}

fn req<'a>(action: &'a str, query: &[(&'a str, &str)]) -> Req<'a> {
    let mut nonce = [0u8; 16];
    aws_lc_rs::rand::fill(&mut nonce).expect("rng");
    Req {
        ak: "admin",
        secret: "admin-secret",
        action,
        query: query.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        date_ms: now_ms(),
        nonce: hex::encode(nonce),
        body: Vec::new(),
        content_type: None,
    }
}

fn build(r: &Req<'_>) -> (HttpRequest<Body>, String) {
    let qs = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(r.query.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        headers.insert(k, HeaderValue::from_str(&v).expect("header"));
    };
    put("host", "api.test".into());
    put("x-acs-action", r.action.into());
    put("x-acs-version", API_VERSION.into());
    put("x-acs-date", format_acs_date(r.date_ms));
    put("x-acs-signature-nonce", r.nonce.clone());
    put("x-acs-content-sha256", sha256_hex(&r.body));
    if let Some(ct) = r.content_type {
        put("content-type", ct.into());
    }
    let signed: Vec<String> = {
        let mut names: Vec<String> = headers.keys().map(|k| k.as_str().to_string()).collect();
        names.sort();
        names
    };
    let auth = sign::Authorization {
        access_key_id: r.ak.into(),
        signed_headers: signed.clone(),
        signature: Vec::new(),
    };
    let payload = sha256_hex(&r.body);
    let sts = sign::string_to_sign("POST", "/", &qs, &headers, &auth, &payload).expect("sts");
    let sig = sign::sign(r.secret.as_bytes(), &sts);
    let value = format!(
        "ACS3-HMAC-SHA256 Credential={},SignedHeaders={},Signature={sig}",
        r.ak,
        signed.join(";")
    );
    headers.insert(
        "authorization",
        HeaderValue::from_str(&value).expect("auth"),
    );
    let mut builder = HttpRequest::builder()
        .method(Method::POST)
        .uri(format!("/?{qs}"));
    for (k, v) in &headers {
        builder = builder.header(k, v);
    }
    (
        builder.body(Body::from(r.body.clone())).expect("request"),
        qs,
    )
}

async fn send(h: &Harness, r: &Req<'_>) -> (u16, Value) {
    let (request, _) = build(r);
    send_raw(h, request).await
}

async fn send_raw(h: &Harness, request: HttpRequest<Body>) -> (u16, Value) {
    send_to(&h.router, request).await
}

async fn send_to(router: &Router, request: HttpRequest<Body>) -> (u16, Value) {
    let resp = router.clone().oneshot(request).await.expect("infallible");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

async fn call(h: &Harness, action: &str, query: &[(&str, &str)]) -> (u16, Value) {
    send(h, &req(action, query)).await
}

fn assert_error(resp: &(u16, Value), status: u16, code: &str) {
    assert_eq!(resp.0, status, "{}", resp.1);
    assert_eq!(resp.1["Code"], code, "{}", resp.1);
    assert!(resp.1["Message"].as_str().is_some_and(|m| !m.is_empty()));
    let rid = resp.1["RequestId"].as_str().expect("RequestId");
    assert_eq!(rid.len(), 36);
}

#[tokio::test]
async fn signature_failures_are_refused() {
    let h = harness();
    let good = req("ListHosts", &[]);
    assert_eq!(send(&h, &good).await.0, 200);
    assert_error(&send(&h, &good).await, 400, "SignatureNonceUsed");

    let (mut tampered, _) = build(&req("ListHosts", &[("HostName", "a")]));
    *tampered.uri_mut() = "/?HostName=b".parse().expect("uri");
    assert_error(&send_raw(&h, tampered).await, 403, "SignatureDoesNotMatch");

    let mut wrong = req("ListHosts", &[]);
    wrong.secret = "not-the-secret";
    assert_error(&send(&h, &wrong).await, 403, "SignatureDoesNotMatch");

    let mut expired = req("ListHosts", &[]);
    expired.date_ms -= 16 * 60 * 1000;
    assert_error(&send(&h, &expired).await, 400, "InvalidTimeStamp.Expired");

    let mut unknown = req("ListHosts", &[]);
    unknown.ak = "nobody";
    let unknown = send(&h, &unknown).await;
    assert_error(&unknown, 403, "SignatureDoesNotMatch");
    // The same answer as a wrong secret: nothing tells which AccessKeyIds exist.
    let wrong = send(&h, &wrong).await;
    assert_eq!(unknown.1["Message"], wrong.1["Message"]);
    assert_eq!(
        unknown.1["Message"],
        "the AccessKeyId or the signature is not valid"
    );

    let unsigned = HttpRequest::builder()
        .method(Method::POST)
        .uri("/")
        .header("x-acs-action", "ListHosts")
        .body(Body::empty())
        .expect("request");
    assert_error(&send_raw(&h, unsigned).await, 400, "IncompleteSignature");
}

/// How many nonces the replicated state remembers.
fn nonces_recorded(h: &Harness) -> usize {
    let mut n = 0;
    h.backend.read(&mut |s| n = s.nonces_remembered());
    n
}

#[tokio::test]
async fn a_replay_to_another_node_is_refused_and_changes_nothing() {
    let h = harness();
    // A second node: its own router and nonce memory, the same replicated state.
    let other = api_router(h.backend.clone(), h.metrics.clone());
    let create = req("CreateUserGroup", &[("UserGroupName", "g")]);
    let (status, body) = send(&h, &create).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(nonces_recorded(&h), 1);
    let replay = send_to(&other, build(&create).0).await;
    assert_error(&replay, 400, "SignatureNonceUsed");
    assert_error(&send(&h, &create).await, 400, "SignatureNonceUsed");
    let (_, groups) = call(&h, "ListUserGroups", &[]).await;
    assert_eq!(groups["TotalCount"], 1, "{groups}");

    // A call whose signature does not match records nothing (its key is not proven).
    let before = nonces_recorded(&h);
    let mut wrong = req("ListHosts", &[]);
    wrong.secret = "not-the-secret";
    assert_error(&send(&h, &wrong).await, 403, "SignatureDoesNotMatch");
    assert_eq!(nonces_recorded(&h), before);
    // A correctly signed call refused before it runs (an invalid parameter, a role that may
    // not) records its nonce: replayed to another node it is refused as a replay there, not
    // judged again (the key might meanwhile be allowed more).
    let invalid = req("ListUsers", &[("PageSize", "abc")]);
    assert_error(&send(&h, &invalid).await, 400, "InvalidParameter");
    assert_eq!(nonces_recorded(&h), before + 1);
    let mut audit = req("CreateUserGroup", &[("UserGroupName", "h")]);
    (audit.ak, audit.secret) = ("auditor", "auditor-secret");
    assert_error(&send(&h, &audit).await, 403, "Forbidden");
    assert_eq!(nonces_recorded(&h), before + 2);
    for refused in [&invalid, &audit] {
        let replay = send_to(&other, build(refused).0).await;
        assert_error(&replay, 400, "SignatureNonceUsed");
    }
    let (_, groups) = call(&h, "ListUserGroups", &[]).await;
    assert_eq!(
        groups["TotalCount"], 1,
        "nothing made by a refused call: {groups}"
    );
}

#[tokio::test]
async fn without_quorum_a_call_may_be_retried_with_its_nonce() {
    let h = harness();
    let create = req("CreateUserGroup", &[("UserGroupName", "g")]);
    h.backend
        .unavailable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_error(&send(&h, &create).await, 503, "ServiceUnavailable");
    h.backend
        .unavailable
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(nonces_recorded(&h), 0);
    // Nothing ran and nothing was recorded: the identical request may be sent again, once.
    let (status, body) = send(&h, &create).await;
    assert_eq!(status, 200, "{body}");
    assert_error(&send(&h, &create).await, 400, "SignatureNonceUsed");
    let (_, groups) = call(&h, "ListUserGroups", &[]).await;
    assert_eq!(groups["TotalCount"], 1, "{groups}");

    // A refused call whose refusal could not be recorded: the same, it is judged again.
    let mut denied = req("CreateUserGroup", &[("UserGroupName", "h")]);
    (denied.ak, denied.secret) = ("auditor", "auditor-secret");
    let set = |down: bool| {
        h.backend
            .unavailable
            .store(down, std::sync::atomic::Ordering::SeqCst)
    };
    let base = nonces_recorded(&h);
    set(true);
    assert_error(&send(&h, &denied).await, 503, "ServiceUnavailable");
    set(false);
    assert_eq!(nonces_recorded(&h), base);
    assert_error(&send(&h, &denied).await, 403, "Forbidden");
    assert_eq!(nonces_recorded(&h), base + 1);
    assert_error(&send(&h, &denied).await, 400, "SignatureNonceUsed");

    // A check that needs the cluster (an Operator's delegated scope) and could not be made is
    // no refusal: nothing is recorded and the identical request is judged when sent again.
    let op = match h.backend.apply_now(portunus_model::Command::CreateUser(
        portunus_model::NewUser {
            name: "op".into(),
            ..Default::default()
        },
    )) {
        portunus_model::Response::Created { id } => id,
        other => panic!("user op: {other:?}"),
    };
    h.backend
        .add_access_key("op", "op-secret", Role::Operator, Some(op));
    let mut scoped = req(
        "CreateHost",
        &[
            ("HostName", "h"),
            ("ActiveAddressType", "Private"),
            ("HostPrivateAddress", "10.0.0.1"),
            ("OSType", "Linux"),
            ("Source", "Local"),
        ],
    );
    (scoped.ak, scoped.secret) = ("op", "op-secret");
    let barrier = |fails: bool| {
        h.backend
            .barrier_fails
            .store(fails, std::sync::atomic::Ordering::SeqCst)
    };
    barrier(true);
    assert_error(&send(&h, &scoped).await, 503, "ServiceUnavailable");
    barrier(false);
    assert_eq!(nonces_recorded(&h), base + 1);
    let judged = send(&h, &scoped).await;
    assert_ne!(judged.0, 503, "{}", judged.1);
    assert_ne!(judged.1["Code"], "SignatureNonceUsed", "{}", judged.1);
    assert_eq!(nonces_recorded(&h), base + 2);
}

#[tokio::test]
async fn action_and_parameter_errors() {
    let h = harness();
    let no_action = HttpRequest::builder()
        .uri("/")
        .body(Body::empty())
        .expect("req");
    assert_error(&send_raw(&h, no_action).await, 400, "MissingParameter");
    assert_error(
        &call(&h, "NoSuchAction", &[]).await,
        404,
        "InvalidAction.NotFound",
    );
    assert_error(
        &call(&h, "MoveResourceGroup", &[]).await,
        400,
        "OperationNotSupported",
    );
    let missing = call(&h, "GetHost", &[]).await;
    assert_error(&missing, 400, "MissingParameter");
    assert!(missing.1["Message"]
        .as_str()
        .is_some_and(|m| m.contains("HostId")));
    let wrong = call(&h, "GetHost", &[("HostId", "abc")]).await;
    assert_error(&wrong, 400, "InvalidParameter");
    assert!(wrong.1["Message"]
        .as_str()
        .is_some_and(|m| m.contains("HostId")));
    assert_error(
        &call(&h, "GetHost", &[("HostId", "42")]).await,
        404,
        "OBJECT_NOT_FOUND",
    );
    let other = call(&h, "ListHosts", &[("InstanceId", "someone-else")]).await;
    assert_error(&other, 404, "InvalidInstanceId.NotFound");
    let text = h.metrics.render();
    assert!(text.contains("route=\"GetHost\""));
    assert!(text.contains("route=\"unknown\""));
    assert!(!text.contains("NoSuchAction"));
}

const HOST: [(&str, &str); 4] = [
    ("Source", "Local"),
    ("OSType", "Linux"),
    ("ActiveAddressType", "Private"),
    ("HostPrivateAddress", "10.0.0.1"),
];

async fn create_host(h: &Harness, name: &str) -> String {
    let mut q = HOST.to_vec();
    q.push(("HostName", name));
    let (status, body) = call(h, "CreateHost", &q).await;
    assert_eq!(status, 200, "{body}");
    body["HostId"]
        .as_str()
        .expect("HostId is a string")
        .to_string()
}

#[tokio::test]
async fn hosts_paging_and_conflicts() {
    let h = harness();
    for i in 0..25 {
        create_host(&h, &format!("web-{i:02}")).await;
    }
    let mut q = HOST.to_vec();
    q.push(("HostName", "web-00"));
    assert_error(
        &call(&h, "CreateHost", &q).await,
        409,
        "OBJECT_AlREADY_EXISTS",
    );
    let (_, first) = call(&h, "ListHosts", &[]).await;
    assert_eq!(first["TotalCount"], 25);
    assert_eq!(first["Hosts"].as_array().map(Vec::len), Some(20));
    let (_, last) = call(&h, "ListHosts", &[("PageNumber", "2"), ("PageSize", "20")]).await;
    assert_eq!(last["Hosts"].as_array().map(Vec::len), Some(5));
    let (_, filtered) = call(&h, "ListHosts", &[("HostName", "web-1")]).await;
    assert_eq!(filtered["TotalCount"], 10);
    assert_error(
        &call(&h, "ListHosts", &[("PageSize", "0")]).await,
        400,
        "InvalidParameter",
    );
}

#[tokio::test]
async fn an_admin_replaces_or_forgets_a_hosts_trusted_fingerprint() {
    let h = harness();
    let host = create_host(&h, "web-01").await;
    let shown = |body: &Value| {
        body["Host"]["Protocols"][0]["HostFingerPrint"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    };
    let fp = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
    let set = [("HostId", host.as_str()), ("HostFingerPrint", fp)];
    assert_eq!(call(&h, "ModifyHostFingerPrint", &set).await.0, 200);
    let (_, got) = call(&h, "GetHost", &[("HostId", &host)]).await;
    assert_eq!(shown(&got), fp, "{got}");
    for bad in ["47DEQpj8HBSa", "SHA256:short", "MD5:aa:bb"] {
        let q = [("HostId", host.as_str()), ("HostFingerPrint", bad)];
        let resp = call(&h, "ModifyHostFingerPrint", &q).await;
        assert_error(&resp, 400, "InvalidParameter");
        assert!(resp.1["Message"]
            .as_str()
            .unwrap()
            .contains("HostFingerPrint"));
    }
    let (_, got) = call(&h, "GetHost", &[("HostId", &host)]).await;
    assert_eq!(shown(&got), fp, "a refused change keeps the old value");
    assert_eq!(
        call(&h, "ModifyHostFingerPrint", &[("HostId", &host)])
            .await
            .0,
        200
    );
    let (_, got) = call(&h, "GetHost", &[("HostId", &host)]).await;
    assert_eq!(shown(&got), "", "forgotten: {got}");
    assert_error(
        &call(&h, "ModifyHostFingerPrint", &[("HostId", "999")]).await,
        404,
        "OBJECT_NOT_FOUND",
    );
}

#[tokio::test]
async fn roles_and_operator_tokens() {
    let h = harness();
    let hid = create_host(&h, "db-1").await;
    let q = [
        ("HostId", hid.as_str()),
        ("HostAccountName", "root"),
        ("ProtocolName", "SSH"),
        ("Password", "pw"),
    ];
    let (_, acc) = call(&h, "CreateHostAccount", &q).await;
    let aid = acc["HostAccountId"].as_str().expect("id").to_string();
    let (_, user) = call(&h, "CreateUser", &[("UserName", "op"), ("Source", "Local")]).await;
    let uid: u64 = user["UserId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    h.backend
        .add_access_key("op", "op-secret", Role::Operator, Some(uid));

    let mut audit = req("CreateUserGroup", &[("UserGroupName", "g")]);
    (audit.ak, audit.secret) = ("auditor", "auditor-secret");
    assert_error(&send(&h, &audit).await, 403, "Forbidden");
    let mut audit_read = req("ListUsers", &[]);
    (audit_read.ak, audit_read.secret) = ("auditor", "auditor-secret");
    assert_eq!(send(&h, &audit_read).await.0, 200);

    let uid_s = uid.to_string();
    let as_op = |action: &'static str, q: Vec<(&'static str, String)>| {
        let mut r = req(action, &[]);
        (r.ak, r.secret, r.query) = ("op", "op-secret", q);
        r
    };
    let token_q = vec![
        ("AssetType", "Host".to_string()),
        ("AssetId", hid.clone()),
        ("AssetAccountId", aid.clone()),
    ];
    let refused = send(&h, &as_op("GenerateAssetOperationToken", token_q.clone())).await;
    assert_error(&refused, 403, "Forbidden.NotAuthorized");
    let hosts = format!("[{{\"HostId\":\"{hid}\",\"HostAccountIds\":[\"{aid}\"]}}]");
    let (_, grant) = call(
        &h,
        "AttachHostAccountsToUser",
        &[("UserId", &uid_s), ("Hosts", &hosts)],
    )
    .await;
    assert_eq!(grant["Results"][0]["Code"], "OK", "{grant}");
    let (status, mine) = send(
        &h,
        &as_op("ListHostsForUser", vec![("UserId", uid_s.clone())]),
    )
    .await;
    assert_eq!((status, mine["TotalCount"].clone()), (200, Value::from(1)));
    let others = send(&h, &as_op("ListHostsForUser", vec![("UserId", "1".into())])).await;
    assert_error(&others, 403, "Forbidden");
    assert_error(
        &send(&h, &as_op("ListHosts", vec![])).await,
        403,
        "Forbidden",
    );

    let (status, tok) = send(&h, &as_op("GenerateAssetOperationToken", token_q)).await;
    assert_eq!(status, 200, "{tok}");
    let t = &tok["AssetOperationToken"];
    let token = t["Token"].as_str().expect("token");
    let stored = h.backend.apply_now(portunus_model::Command::PurgeTokens {
        expired_before_ms: 0,
    });
    assert!(stored.rejection().is_none());
    let mut found_hash = false;
    h.backend.read(&mut |s| {
        found_hash = s
            .token_by_hash(&super::actions::tokens::token_hash(token))
            .is_some();
    });
    assert!(found_hash, "the token is stored as its SHA-256");
    let renew = vec![("TokenId", t["TokenId"].as_str().expect("id").to_string())];
    assert_eq!(
        send(&h, &as_op("RenewAssetOperationToken", renew)).await.0,
        200
    );
}

#[tokio::test]
async fn no_quorum_and_body_limit() {
    let h = harness();
    h.backend
        .unavailable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_error(&call(&h, "ListHosts", &[]).await, 503, "ServiceUnavailable");
    h.backend
        .unavailable
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let mut big = req("ListHosts", &[]);
    big.body = vec![b'a'; ApiSettings::default().max_body_bytes + 1];
    assert_error(&send(&h, &big).await, 413, "RequestBodyTooLarge");
}

#[tokio::test]
async fn openapi_document_matches_the_table() {
    let h = harness();
    let request = HttpRequest::builder()
        .uri("/openapi.json")
        .body(Body::empty())
        .expect("req");
    let (status, doc) = send_raw(&h, request).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let n = actions::all().count();
    assert_eq!(doc["paths"].as_object().map(|p| p.len()), Some(n));
    let op = &doc["paths"]["/?Action=GetHost"]["post"];
    let params = op["parameters"].as_array().expect("params");
    assert!(params
        .iter()
        .any(|p| p["name"] == "HostId" && p["required"] == true));
    let mut names: Vec<_> = actions::all().map(|a| a.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n, "action names are unique");
}

/// A request as [`crate::client::sign_request`] builds it.
fn client_request(secret: &str, action: &str, params: &[(&str, &str)]) -> HttpRequest<Body> {
    let creds = crate::client::Credentials {
        access_key_id: "admin".into(),
        access_key_secret: secret.into(),
    };
    let nonce = crate::client::new_nonce();
    let signed =
        crate::client::sign_request(&creds, "api.test:443", action, params, now_ms(), &nonce)
            .expect("signed");
    let mut builder = HttpRequest::builder()
        .method(Method::POST)
        .uri(format!("/?{}", signed.query));
    for (k, v) in &signed.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder.body(Body::empty()).expect("request")
}

#[tokio::test]
async fn the_client_signer_is_accepted() {
    let h = harness();
    let odd = "web 1/ä*~+&=";
    let params = [
        ("HostName", odd),
        ("Source", "Local"),
        ("OSType", "Linux"),
        ("ActiveAddressType", "Private"),
        ("HostPrivateAddress", "10.0.0.1"),
    ];
    let (status, body) = send_raw(&h, client_request("admin-secret", "CreateHost", &params)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send_raw(&h, client_request("admin-secret", "ListHosts", &[])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Hosts"][0]["HostName"], odd, "{body}");
    let wrong = send_raw(&h, client_request("other-secret", "ListHosts", &[])).await;
    assert_error(&wrong, 403, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn the_o_and_m_addresses_are_set_checked_and_described() {
    let h = harness();
    let both = [
        ("InternetEndpoint", "bastion.example.com"),
        ("IntranetEndpoint", "10.0.0.5"),
    ];
    let (status, body) = call(&h, "ModifyInstanceAttribute", &both).await;
    assert_eq!(status, 200, "{body}");
    let (_, got) = call(&h, "DescribeInstanceAttribute", &[]).await;
    let a = &got["InstanceAttribute"];
    assert_eq!(
        (&a["InternetEndpoint"], &a["IntranetEndpoint"]),
        (
            &Value::from("bastion.example.com"),
            &Value::from("10.0.0.5")
        ),
        "{got}"
    );
    // One alone leaves the other; the description is kept apart.
    let (status, body) = call(
        &h,
        "ModifyInstanceAttribute",
        &[("IntranetEndpoint", ""), ("Description", "prod")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, got) = call(&h, "DescribeInstanceAttribute", &[]).await;
    let a = &got["InstanceAttribute"];
    assert_eq!(
        (
            &a["InternetEndpoint"],
            &a["IntranetEndpoint"],
            &a["Description"]
        ),
        (
            &Value::from("bastion.example.com"),
            &Value::from(""),
            &Value::from("prod")
        ),
        "{got}"
    );
    for (name, bad) in [
        ("InternetEndpoint", "https://bastion.example.com"),
        ("IntranetEndpoint", "bastion:60022"),
        ("InternetEndpoint", "-bad-.example"),
    ] {
        let r = call(
            &h,
            "ModifyInstanceAttribute",
            &[(name, bad), ("Description", "x")],
        )
        .await;
        assert_error(&r, 400, "InvalidParameter");
        let words = r.1["Message"].as_str().unwrap();
        assert!(words.contains(&format!("\"{name}\"")), "{bad}: {words}");
    }
    let r = call(&h, "ModifyInstanceAttribute", &[]).await;
    assert_error(&r, 400, "MissingParameter");
    let (_, got) = call(&h, "DescribeInstanceAttribute", &[]).await;
    assert_eq!(
        got["InstanceAttribute"]["Description"], "prod",
        "a refused call changed nothing: {got}"
    );
}

#[tokio::test]
async fn the_cluster_settings_are_read_and_changed_by_name_and_checked() {
    let h = harness();
    let (status, got) = call(&h, "GetInstanceSettings", &[]).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["Settings"]["LoginLockThreshold"], 5, "{got}");
    assert_eq!(got["Settings"]["DatabaseTargetTls"], "prefer", "{got}");
    let change = [
        ("MaxSessionsPerUser", "2"),
        ("SessionIdleTimeoutSeconds", "600"),
        ("TokenSelfRenew", "False"),
        ("DatabaseTargetTls", "Require"),
    ];
    let (status, body) = call(&h, "ModifyInstanceSettings", &change).await;
    assert_eq!(status, 200, "{body}");
    let (_, got) = call(&h, "GetInstanceSettings", &[]).await;
    let s = &got["Settings"];
    assert_eq!(
        (
            &s["MaxSessionsPerUser"],
            &s["SessionIdleTimeoutSeconds"],
            &s["TokenSelfRenew"],
            &s["DatabaseTargetTls"],
        ),
        (
            &Value::from(2),
            &Value::from(600),
            &Value::from(false),
            &Value::from("require")
        ),
        "{got}"
    );
    assert_eq!(s["MaxSessionsTotal"], 0, "untouched: {got}");
    let mut stored = None;
    h.backend
        .read(&mut |st| stored = Some(st.settings().max_sessions_per_user));
    assert_eq!(stored, Some(2));

    // Refusals name the parameter, and change nothing.
    for (q, name) in [
        (("MaxSessionsTotal", "4294967296"), "MaxSessionsTotal"),
        (("TokenSelfRenew", "maybe"), "TokenSelfRenew"),
        (("DatabaseTargetTls", "sometimes"), "DatabaseTargetTls"),
        (("TokenValiditySeconds", "0"), "TokenValiditySeconds"),
        (
            ("CommandApprovalWaitSeconds", "5"),
            "CommandApprovalWaitSeconds",
        ),
    ] {
        let r = call(
            &h,
            "ModifyInstanceSettings",
            &[q, ("MaxSessionsPerUser", "9")],
        )
        .await;
        assert_error(&r, 400, "InvalidParameter");
        assert!(
            r.1["Message"]
                .as_str()
                .unwrap()
                .contains(&format!("\"{name}\"")),
            "{q:?}: {}",
            r.1
        );
    }
    let (_, after) = call(&h, "GetInstanceSettings", &[]).await;
    assert_eq!(
        after["Settings"], got["Settings"],
        "nothing changed by a refused call"
    );

    // An Auditor reads them and cannot change them.
    let mut read = req("GetInstanceSettings", &[]);
    (read.ak, read.secret) = ("auditor", "auditor-secret");
    assert_eq!(send(&h, &read).await.0, 200);
    let mut write = req("ModifyInstanceSettings", &[("MaxSessionsTotal", "1")]);
    (write.ak, write.secret) = ("auditor", "auditor-secret");
    assert_error(&send(&h, &write).await, 403, "Forbidden");
}
