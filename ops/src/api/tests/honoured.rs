//! Parameters the SDK sends are honoured (list filters really filter) or refused with why,
//! never dropped: the users' language, the users' settings Portunus keeps nowhere, the filters of the databases a
//! user may reach, of the O&M engineer's own lists, of host accounts and of the instance.

use super::*;

async fn ok(h: &Harness, action: &str, q: &[(&str, &str)]) -> Value {
    let (status, body) = call(h, action, q).await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

fn id_of(v: &Value, field: &str) -> String {
    match &v[field] {
        Value::String(s) => s.clone(),
        other => panic!("{field} is {other}"),
    }
}

/// The call is refused as OperationNotSupported with a message naming `param`.
async fn refused(h: &Harness, action: &str, q: &[(&str, &str)], param: &str) {
    let resp = call(h, action, q).await;
    assert_error(&resp, 400, "OperationNotSupported");
    let message = resp.1["Message"].as_str().unwrap_or_default();
    assert!(message.starts_with(param), "{action}: {message}");
}

#[tokio::test]
async fn user_settings_portunus_keeps_nowhere_are_refused_unless_default() {
    let h = harness();
    let base = [("UserName", "ann"), ("Source", "Local")];
    let with = |extra: (&'static str, &'static str)| {
        let mut q = base.to_vec();
        q.push(extra);
        q
    };
    // A language is kept; a bad one, or Custom without one, is refused naming it.
    for (q, code, name) in [
        (with(("Language", "fr")), "InvalidParameter", "Language"),
        (
            with(("LanguageStatus", "Custom")),
            "MissingParameter",
            "Language",
        ),
        (
            with(("LanguageStatus", "Sometimes")),
            "InvalidParameter",
            "LanguageStatus",
        ),
    ] {
        let resp = call(&h, "CreateUser", &q).await;
        assert_error(&resp, 400, code);
        let message = resp.1["Message"].as_str().unwrap_or_default();
        assert!(message.contains(name), "{q:?}: {message}");
    }
    refused(
        &h,
        "CreateUser",
        &with(("NeedResetPassword", "true")),
        "NeedResetPassword",
    )
    .await;
    refused(
        &h,
        "CreateUser",
        &with(("MobileCountryCode", "CN")),
        "MobileCountryCode",
    )
    .await;
    let (_, users) = call(&h, "ListUsers", &[]).await;
    assert_eq!(
        users["TotalCount"], 0,
        "a refused user was created: {users}"
    );

    let mut defaults = base.to_vec();
    defaults.extend([
        ("Language", ""),
        ("LanguageStatus", "Global"),
        ("NeedResetPassword", "false"),
    ]);
    let uid = id_of(&ok(&h, "CreateUser", &defaults).await, "UserId");
    let u = [("UserId", uid.as_str())];
    let with = |extra: (&'static str, &'static str)| {
        let mut q = u.to_vec();
        q.push(extra);
        q
    };
    let language = |user: &Value| {
        (
            user["User"]["Language"].clone(),
            user["User"]["LanguageStatus"].clone(),
        )
    };
    let user = ok(&h, "GetUser", &u).await;
    assert_eq!(
        language(&user),
        (Value::from(""), Value::from("Global")),
        "{user}"
    );
    ok(&h, "ModifyUser", &with(("Language", "zh-CN"))).await;
    let user = ok(&h, "GetUser", &u).await;
    assert_eq!(
        language(&user),
        (Value::from("zh-cn"), Value::from("Custom")),
        "{user}"
    );
    let mut kept = with(("Language", "en"));
    kept.push(("LanguageStatus", "Global"));
    let resp = call(&h, "ModifyUser", &kept).await;
    assert_error(&resp, 400, "InvalidParameter");
    let user = ok(&h, "GetUser", &u).await;
    assert_eq!(
        language(&user).0,
        Value::from("zh-cn"),
        "a refused call changed nothing"
    );
    refused(
        &h,
        "ModifyUser",
        &with(("NeedResetPassword", "True")),
        "NeedResetPassword",
    )
    .await;
    refused(
        &h,
        "ModifyUser",
        &with(("MobileCountryCode", "US")),
        "MobileCountryCode",
    )
    .await;
    let mut q = with(("LanguageStatus", "Global"));
    q.extend([("NeedResetPassword", "false"), ("DisplayName", "Ann")]);
    ok(&h, "ModifyUser", &q).await;
    let user = ok(&h, "GetUser", &u).await;
    assert_eq!(user["User"]["DisplayName"], "Ann", "{user}");
    assert_eq!(user["User"]["NeedResetPassword"], false, "{user}");
    assert_eq!(
        language(&user),
        (Value::from(""), Value::from("Global")),
        "LanguageStatus Global returns to the default: {user}"
    );
}

/// A local MySQL database at `address`, in `domain` when given.
async fn database(h: &Harness, name: &str, address: &str, domain: Option<&str>) -> String {
    let mut q = vec![
        ("DatabaseName", name),
        ("DatabaseType", "MySQL"),
        ("Source", "Local"),
        ("DatabasePort", "3306"),
        ("ActiveAddressType", "Private"),
        ("DatabasePrivateAddress", address),
    ];
    if let Some(d) = domain {
        q.push(("NetworkDomainId", d));
    }
    id_of(&ok(h, "CreateDatabase", &q).await, "DatabaseId")
}

fn names(list: &Value, field: &str) -> Vec<String> {
    let items = list.as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|v| v[field].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn database_lists_filter_by_address_domain_account_and_project() {
    let h = harness();
    let domain = [
        ("NetworkDomainName", "dc2"),
        ("NetworkDomainType", "Direct"),
    ];
    let nd = id_of(
        &ok(&h, "CreateNetworkDomain", &domain).await,
        "NetworkDomainId",
    );
    let a = database(&h, "a", "10.0.0.5", None).await;
    let b = database(&h, "b", "10.0.0.6", Some(&nd)).await;
    let uid = id_of(
        &ok(
            &h,
            "CreateUser",
            &[("UserName", "eng"), ("Source", "Local")],
        )
        .await,
        "UserId",
    );
    let mut accounts = Vec::new();
    for (db, name) in [(&a, "app"), (&a, "ro"), (&b, "app")] {
        let q = [("DatabaseId", db.as_str()), ("DatabaseAccountName", name)];
        accounts.push(id_of(
            &ok(&h, "CreateDatabaseAccount", &q).await,
            "DatabaseAccountId",
        ));
    }
    let grant = [
        ("UserId", uid.as_str()),
        ("Databases.1.DatabaseId", a.as_str()),
        ("Databases.1.DatabaseAccountIds.1", accounts[0].as_str()),
        ("Databases.1.DatabaseAccountIds.2", accounts[1].as_str()),
        ("Databases.2.DatabaseId", b.as_str()),
        ("Databases.2.DatabaseAccountIds.1", accounts[2].as_str()),
    ];
    ok(&h, "AttachDatabaseAccountsToUser", &grant).await;
    let u = uid.as_str();

    let all = ok(&h, "ListDatabasesForUser", &[("UserId", u)]).await;
    assert_eq!(all["TotalCount"], 2, "{all}");
    let at = ok(
        &h,
        "ListDatabasesForUser",
        &[("UserId", u), ("DatabaseAddress", "10.0.0.6")],
    )
    .await;
    assert_eq!(names(&at["Databases"], "DatabaseName"), ["b"], "{at}");
    // The SDK documents DatabaseAddress as an exact match.
    let part = ok(
        &h,
        "ListDatabasesForUser",
        &[("UserId", u), ("DatabaseAddress", "10.0.0")],
    )
    .await;
    assert_eq!(part["TotalCount"], 0, "{part}");
    let q = [("UserId", u), ("NetworkDomainId", nd.as_str())];
    let in_domain = ok(&h, "ListDatabasesForUser", &q).await;
    assert_eq!(
        names(&in_domain["Databases"], "DatabaseName"),
        ["b"],
        "{in_domain}"
    );

    let q = [
        ("UserId", u),
        ("DatabaseId", a.as_str()),
        ("DatabaseAccountName", "ro"),
    ];
    let ro = ok(&h, "ListDatabaseAccountsForUser", &q).await;
    assert_eq!(
        names(&ro["DatabaseAccounts"], "DatabaseAccountName"),
        ["ro"],
        "{ro}"
    );

    let mine = |extra: (&'static str, &'static str)| vec![("UserId", u), extra];
    let at = ok(
        &h,
        "ListOperationDatabases",
        &mine(("DatabaseAddress", "10.0.0.5")),
    )
    .await;
    assert_eq!(names(&at["Databases"], "DatabaseName"), ["a"], "{at}");
    let ecs = ok(&h, "ListOperationDatabases", &mine(("Source", "Rds"))).await;
    assert_eq!(ecs["TotalCount"], 0, "{ecs}");
    let local = ok(&h, "ListOperationDatabases", &mine(("Source", "Local"))).await;
    assert_eq!(local["TotalCount"], 2, "{local}");
    let default = ok(&h, "ListOperationDatabases", &mine(("ProjectId", "0"))).await;
    assert_eq!(default["TotalCount"], 2, "{default}");
    let project = id_of(
        &ok(&h, "CreateProject", &[("Name", "p")]).await,
        "ProjectId",
    );
    let q = vec![("UserId", u), ("ProjectId", project.as_str())];
    let other = ok(&h, "ListOperationDatabases", &q).await;
    assert_eq!(other["TotalCount"], 0, "{other}");
    let q = vec![
        ("UserId", u),
        ("DatabaseId", a.as_str()),
        ("OperationProjectId", project.as_str()),
    ];
    let none = ok(&h, "ListOperationDatabaseAccounts", &q).await;
    assert_eq!(none["TotalCount"], 0, "{none}");
    refused(
        &h,
        "ListOperationDatabases",
        &mine(("SourceInstanceState", "Normal")),
        "SourceInstanceState",
    )
    .await;
}

#[tokio::test]
async fn asset_settings_portunus_keeps_nowhere_are_refused() {
    let h = harness();
    let hid = create_host(&h, "web").await;
    let q = [
        ("HostId", hid.as_str()),
        ("PrefKex", "diffie-hellman-group1-sha1"),
    ];
    refused(&h, "ModifyHost", &q, "PrefKex").await;
    ok(
        &h,
        "ModifyHost",
        &[("HostId", hid.as_str()), ("PrefKex", "default")],
    )
    .await;
    let mut q = HOST.to_vec();
    q.extend([("HostName", "imported"), ("InstanceMemberId", "1234")]);
    refused(&h, "CreateHost", &q, "InstanceMemberId").await;
    let account = [
        ("HostId", hid.as_str()),
        ("HostAccountName", "root"),
        ("ProtocolName", "SSH"),
    ];
    let mut q = account.to_vec();
    q.push(("PrivilegeType", "Privileged"));
    refused(&h, "CreateHostAccount", &q, "PrivilegeType").await;
    let mut q = account.to_vec();
    q.extend([("PrivilegeType", "Normal"), ("RotationMode", "Self")]);
    let aid = id_of(&ok(&h, "CreateHostAccount", &q).await, "HostAccountId");
    let q = [
        ("HostAccountId", aid.as_str()),
        ("RotationMode", "Privileged"),
    ];
    refused(&h, "ModifyHostAccount", &q, "RotationMode").await;
    refused(
        &h,
        "ListHosts",
        &[("SourceInstanceState", "Release")],
        "SourceInstanceState",
    )
    .await;

    let db = database(&h, "d", "10.0.0.9", None).await;
    let both = [
        ("DatabaseId", db.as_str()),
        ("DatabasePrivateAddress", "10.0.0.10"),
        ("DatabasePublicAddress", "db.example.com"),
    ];
    assert_error(
        &call(&h, "ModifyDatabase", &both).await,
        400,
        "OperationNotSupported",
    );
    let mut public = both.to_vec();
    public.push(("ActiveAddressType", "Public"));
    assert_error(
        &call(&h, "ModifyDatabase", &public).await,
        400,
        "OperationNotSupported",
    );
    let q = [
        ("DatabaseId", db.as_str()),
        ("DatabasePublicAddress", "db.example.com"),
    ];
    ok(&h, "ModifyDatabase", &q).await;
    let got = ok(&h, "GetDatabase", &[("DatabaseId", db.as_str())]).await;
    assert!(got.to_string().contains("db.example.com"), "{got}");
    let domain = [
        ("NetworkDomainName", "dc3"),
        ("NetworkDomainType", "Direct"),
    ];
    let nd = id_of(
        &ok(&h, "CreateNetworkDomain", &domain).await,
        "NetworkDomainId",
    );
    ok(
        &h,
        "ModifyDatabase",
        &[
            ("DatabaseId", db.as_str()),
            ("NetworkDomainId", nd.as_str()),
        ],
    )
    .await;
    let got = ok(&h, "GetDatabase", &[("DatabaseId", db.as_str())]).await;
    assert_eq!(got["Database"]["NetworkDomainId"], nd.as_str(), "{got}");
    let q = [
        ("DatabaseId", db.as_str()),
        ("DatabaseAccountName", "a"),
        ("DatabaseSchema", "s"),
    ];
    refused(&h, "CreateDatabaseAccount", &q, "DatabaseSchema").await;
}

#[tokio::test]
async fn instance_and_tag_lists_filter_or_refuse() {
    let h = harness();
    let tag = [
        ("ResourceType", "INSTANCE"),
        ("ResourceId.1", INSTANCE),
        ("Tag.1.Key", "env"),
        ("Tag.1.Value", "prod"),
    ];
    ok(&h, "TagResources", &tag).await;
    let tagged = ok(
        &h,
        "DescribeInstances",
        &[("Tag.1.Key", "env"), ("Tag.1.Value", "prod")],
    )
    .await;
    assert_eq!(tagged["TotalCount"], 1, "{tagged}");
    let other = ok(
        &h,
        "DescribeInstances",
        &[("Tag.1.Key", "env"), ("Tag.1.Value", "dev")],
    )
    .await;
    assert_eq!(other["TotalCount"], 0, "{other}");
    let running = ok(&h, "DescribeInstances", &[("InstanceStatus", "RUNNING")]).await;
    assert_eq!(running["TotalCount"], 1, "{running}");
    let stopped = ok(&h, "DescribeInstances", &[("InstanceStatus", "EXPIRED")]).await;
    assert_eq!(stopped["TotalCount"], 0, "{stopped}");
    let second = ok(&h, "DescribeInstances", &[("PageNumber", "2")]).await;
    assert_eq!(second["Instances"], serde_json::json!([]), "{second}");
    refused(
        &h,
        "DescribeInstances",
        &[("ResourceGroupId", "rg-1")],
        "ResourceGroupId",
    )
    .await;
    let q = [("ResourceType", "INSTANCE"), ("NextToken", "abc")];
    assert_error(
        &call(&h, "ListTagResources", &q).await,
        400,
        "InvalidParameter",
    );
    let q = [("ResourceType", "HOST")];
    assert_error(&call(&h, "ListTagKeys", &q).await, 400, "InvalidParameter");
    let q = [("NextToken", "abc")];
    assert_error(
        &call(&h, "ListInstanceRdMembers", &q).await,
        400,
        "InvalidParameter",
    );
}

#[tokio::test]
async fn host_accounts_are_limited_to_sftp_and_freed_through_the_api() {
    let h = harness();
    let hid = create_host(&h, "files").await;
    let sftp = [
        ("HostId", hid.as_str()),
        ("HostAccountName", "drop"),
        ("ProtocolName", "SSH"),
        ("SftpOnly", "true"),
    ];
    let aid = id_of(&ok(&h, "CreateHostAccount", &sftp).await, "HostAccountId");
    let shown = |v: Value| v["HostAccount"]["SftpOnly"].clone();
    let get = [("HostAccountId", aid.as_str())];
    assert_eq!(
        shown(ok(&h, "GetHostAccount", &get).await),
        Value::Bool(true)
    );
    let free = [("HostAccountId", aid.as_str()), ("SftpOnly", "false")];
    ok(&h, "ModifyHostAccount", &free).await;
    assert_eq!(
        shown(ok(&h, "GetHostAccount", &get).await),
        Value::Bool(false)
    );
    let rdp = [
        ("HostId", hid.as_str()),
        ("HostAccountName", "desk"),
        ("ProtocolName", "RDP"),
        ("SftpOnly", "true"),
    ];
    assert_error(
        &call(&h, "CreateHostAccount", &rdp).await,
        400,
        "InvalidParameter",
    );
    let odd = [("HostAccountId", aid.as_str()), ("SftpOnly", "maybe")];
    assert_error(
        &call(&h, "ModifyHostAccount", &odd).await,
        400,
        "InvalidParameter",
    );
}
