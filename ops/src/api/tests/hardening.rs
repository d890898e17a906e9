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
    let mut groups = 0;
    h.backend.read(&mut |s| groups = s.user_groups().count());
    assert_eq!(groups, 1, "nothing smuggled in");
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
