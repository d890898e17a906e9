//! Configuration exports: made and handed out through the API, Admin keys only.

use super::*;
use crate::config_export::ConfigDocument;
use base64::Engine;

#[tokio::test]
async fn an_export_holds_the_configuration_and_only_an_admin_gets_it() {
    let h = harness();
    create_host(&h, "web-1").await;
    let (_, made) = call(
        &h,
        "CreateUser",
        &[("UserName", "alice"), ("Source", "Local")],
    )
    .await;
    assert!(made["UserId"].is_string(), "{made}");
    let (status, job) = call(&h, "CreateExportConfigJob", &[]).await;
    assert_eq!(status, 200, "{job}");
    let id = job["JobId"].as_str().expect("JobId").to_string();
    let (status, got) = call(&h, "GetExportConfigJob", &[("JobId", &id)]).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["Status"], "Success", "{got}");
    assert_eq!(got["ExpireTime"], 0, "{got}");
    let url = got["DownloadUrl"].as_str().expect("DownloadUrl");
    let b64 = url
        .strip_prefix("data:application/json;base64,")
        .expect("a data: URL");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    let doc = ConfigDocument::parse(&bytes).expect("a configuration document");
    assert_eq!(doc.instance_id, INSTANCE);
    assert_eq!(doc.configuration.hosts[0].name, "web-1");
    assert_eq!(doc.configuration.users[0].name, "alice");
    assert_eq!(doc.configuration.access_keys.len(), 2);
    assert!(
        got["Message"]
            .as_str()
            .is_some_and(|m| m.contains("1 users") && m.contains("import-config")),
        "{got}"
    );

    let mut audit = req("GetExportConfigJob", &[("JobId", &id)]);
    (audit.ak, audit.secret) = ("auditor", "auditor-secret");
    assert_error(&send(&h, &audit).await, 403, "Forbidden");
    let bad = call(&h, "GetExportConfigJob", &[("JobId", "../etc")]).await;
    assert_error(&bad, 400, "InvalidParameter");
    let unknown = call(&h, "GetExportConfigJob", &[("JobId", "1-0123456789abcdef")]).await;
    assert_error(&unknown, 400, "InvalidParameter");
    assert!(
        unknown.1["Message"]
            .as_str()
            .is_some_and(|m| m.contains("no member")),
        "{}",
        unknown.1
    );
    assert!(ConfigDocument::parse(b"{\"Format\":\"x\"}").is_err());
}
