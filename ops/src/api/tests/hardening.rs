//! What the signature covers, and the answers that must not tell an attacker anything.

use super::*;

#[tokio::test]
async fn a_parameter_name_cannot_smuggle_other_parameters() {
    let h = harness();
    // Signed for two parameters, A (empty) and PageSize...
    let signed = req("ListHosts", &[("A", ""), ("PageSize", "1")]);
    let (mut forged, qs) = build(&signed);
    assert_eq!(qs, "A=&PageSize=1");
    // ...and sent as one parameter whose name holds "=&".
    *forged.uri_mut() = "/?A%3D%26PageSize=1".parse().expect("uri");
    assert_error(&send_raw(&h, forged).await, 403, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn content_type_must_be_signed_when_sent() {
    let h = harness();
    // A form body with its content-type signed (as the SDK sends GetAutoOpsTask's body):
    // the body's parameters are read.
    let mut form = req("CreateUserGroup", &[]);
    form.body = b"UserGroupName=from-body".to_vec();
    form.content_type = Some("application/x-www-form-urlencoded");
    let (status, body) = send(&h, &form).await;
    assert_eq!(status, 200, "{body}");
    let (_, groups) = call(&h, "ListUserGroups", &[]).await;
    assert_eq!(
        groups["UserGroups"][0]["UserGroupName"], "from-body",
        "{groups}"
    );

    // The same content-type added outside the signature is refused.
    let mut plain = req("CreateUserGroup", &[]);
    plain.body = b"UserGroupName=smuggled".to_vec();
    let (mut request, _) = build(&plain);
    request.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let resp = send_raw(&h, request).await;
    assert_error(&resp, 400, "IncompleteSignature");
    assert!(
        resp.1["Message"]
            .as_str()
            .is_some_and(|m| m.contains("content-type")),
        "{}",
        resp.1
    );
    assert_eq!(user_groups(&h), 1, "nothing smuggled in");
}

#[tokio::test]
async fn unknown_disabled_and_wrongly_signed_keys_get_one_answer() {
    let h = harness();
    let mut unknown = req("ListHosts", &[]);
    (unknown.ak, unknown.secret) = ("nobody", "admin-secret");
    let mut wrong = req("ListHosts", &[]);
    wrong.secret = "not-the-secret";
    h.backend
        .add_access_key("off", "off-secret", Role::Admin, None);
    let resp = h
        .backend
        .apply_now(portunus_model::Command::SetAccessKeyEnabled {
            access_key_id: "off".into(),
            enabled: false,
        });
    assert!(resp.rejection().is_none(), "{resp:?}");
    let mut disabled = req("ListHosts", &[]);
    (disabled.ak, disabled.secret) = ("off", "off-secret");
    let answers = [
        send(&h, &unknown).await,
        send(&h, &wrong).await,
        send(&h, &disabled).await,
    ];
    for a in &answers {
        assert_error(a, 403, "SignatureDoesNotMatch");
        assert_eq!(
            a.1["Message"], "the AccessKeyId or the signature is not valid",
            "{}",
            a.1
        );
    }
}

/// Fills `n` nonces of key `ak` in the replicated state, as `n` calls would.
fn hold_nonces(h: &Harness, ak: &str, first: u64, n: usize) {
    for i in first..first + n as u64 {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&i.to_be_bytes());
        let resp = h.backend.apply_now(portunus_model::Command::RecordNonce {
            access_key_id: ak.into(),
            key,
            request_ms: now_ms(),
        });
        assert!(resp.rejection().is_none(), "{resp:?}");
    }
}

fn user_groups(h: &Harness) -> usize {
    // Read directly: a throttled key's call would be throttled too.
    let mut groups = 0;
    h.backend.read(&mut |s| groups = s.user_groups().count());
    groups
}

#[tokio::test]
async fn one_key_flooding_the_api_throttles_itself_not_the_others() {
    use portunus_model::state::{ADMIN_RESERVED_NONCES, MAX_NONCES, MAX_NONCES_PER_KEY};
    let h = harness();
    let as_auditor = |action: &'static str| {
        let mut r = req(action, &[]);
        (r.ak, r.secret) = ("auditor", "auditor-secret");
        r
    };
    assert_eq!(send(&h, &as_auditor("ListHosts")).await.0, 200);
    hold_nonces(&h, "auditor", 0, MAX_NONCES_PER_KEY - 1);
    // The auditor's share is full: its next call is throttled...
    let throttled = send(&h, &as_auditor("ListHosts")).await;
    assert_error(&throttled, 429, "Throttling");
    assert!(
        throttled.1["Message"]
            .as_str()
            .is_some_and(|m| m.contains("AccessKey")),
        "{}",
        throttled.1
    );
    // ...and the admin's calls are served.
    let create = req("CreateUserGroup", &[("UserGroupName", "g")]);
    let (status, body) = send(&h, &create).await;
    assert_eq!(status, 200, "{body}");

    // Other non-Admin keys fill the rest of the non-Admin share: an Admin key is still served.
    let others = (MAX_NONCES - ADMIN_RESERVED_NONCES) / MAX_NONCES_PER_KEY;
    for i in 1..others {
        let ak = format!("reader{i}");
        h.backend.add_access_key(&ak, "s", Role::Auditor, None);
        hold_nonces(&h, &ak, (i * MAX_NONCES_PER_KEY) as u64, MAX_NONCES_PER_KEY);
    }
    h.backend
        .add_access_key("late", "late-secret", Role::Auditor, None);
    let mut late = req("ListHosts", &[]);
    (late.ak, late.secret) = ("late", "late-secret");
    assert_error(&send(&h, &late).await, 429, "Throttling");
    let (status, body) = send(&h, &req("CreateUserGroup", &[("UserGroupName", "h")])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(user_groups(&h), 2);

    // A throttled call does not run its action.
    hold_nonces(&h, "admin", 1 << 40, MAX_NONCES_PER_KEY - 2);
    let full = send(&h, &req("CreateUserGroup", &[("UserGroupName", "full")])).await;
    assert_error(&full, 429, "Throttling");
    assert_eq!(user_groups(&h), 2);
}

#[tokio::test]
async fn a_request_dated_too_far_ahead_is_refused_without_a_write() {
    use portunus_model::state::{MAX_REQUEST_AGE_MS, MAX_REQUEST_LEAD_MS};
    let h = harness();
    let mut ahead = req("ListHosts", &[]);
    ahead.date_ms += MAX_REQUEST_LEAD_MS + 60_000;
    let resp = send(&h, &ahead).await;
    assert_error(&resp, 400, "InvalidTimeStamp.Expired");
    let message = resp.1["Message"].as_str().expect("Message").to_string();
    for limit in [MAX_REQUEST_AGE_MS, MAX_REQUEST_LEAD_MS] {
        let words = format!("{} minutes", limit / 60_000);
        assert!(message.contains(&words), "{words} not in {message}");
    }
    // Slightly ahead (a client clock a little fast) is served.
    let mut close = req("ListHosts", &[]);
    close.date_ms += MAX_REQUEST_LEAD_MS - 60_000;
    assert_eq!(send(&h, &close).await.0, 200);
    assert_eq!(nonces_recorded(&h), 1);
}
