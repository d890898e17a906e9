//! LDAP and Active Directory logins against a real OpenLDAP `slapd` started by the test with
//! TLS: LDAP over StartTLS (uid), AD-shaped entries (sAMAccountName, userPrincipalName) over
//! LDAPS, the Verify actions, the OpenSSH client logging in with directory passwords, and a
//! directory outage that refuses directory users with a reason while local users go on;
//! synchronization of users and groups from the directory (created, disabled and removed
//! users locked and unlocked, groups kept as the directory says, local users left alone).

use portunus_proxy::testing::openssh::{Askpass, Sshd};
use portunus_tests::{free_tcp, loopback_tls_files, sshd_host, wait_until, NodeProc, ProcCluster};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(20);
const LOCAL_PASSWORD: &str = "local-Passw0rd-8";
const CAROL_PASSWORD: &str = "carol-Dir-Passw0rd";
const DAVE_PASSWORD: &str = "dave-AD-Passw0rd";
const READER_PASSWORD: &str = "reader-Svc-Passw0rd";

/// An AD-shaped schema: the attributes AD logins use, on an auxiliary class.
const AD_SCHEMA: &str = "\
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch \
 SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch \
 SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.3 NAME 'memberOf' EQUALITY distinguishedNameMatch \
 SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
attributetype ( 1.3.6.1.4.1.55555.1.4 NAME 'userAccountControl' EQUALITY integerMatch \
 SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.5 NAME 'nsAccountLock' EQUALITY caseIgnoreMatch \
 SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'adShapedUser' SUP top AUXILIARY \
 MAY ( sAMAccountName $ userPrincipalName $ memberOf $ userAccountControl $ nsAccountLock ) )
";

/// Root of the test directory, for changes made while the test runs.
const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
const ROOT_PASSWORD: &str = "admin-Root-Passw0rd";

const DATA: &str = "\
dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: cn=reader,dc=example,dc=org
objectClass: person
cn: reader
sn: reader
userPassword: reader-Svc-Passw0rd

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: carol
cn: Carol Directory
sn: Directory
mail: carol@example.org
userPassword: carol-Dir-Passw0rd

dn: cn=Dave Domain,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: adShapedUser
cn: Dave Domain
sn: Domain
displayName: Dave Domain
sAMAccountName: dave
userPrincipalName: dave@corp.example
memberOf: cn=ops,dc=example,dc=org
userPassword: dave-AD-Passw0rd
";

/// A real slapd with its data loaded, on `ldap` (StartTLS) and `ldaps` ports.
struct Slapd {
    child: Child,
}

impl Slapd {
    fn start(dir: &Path, ldap: u16, ldaps: u16) -> Slapd {
        let db = dir.join("db");
        let fresh = !db.exists();
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(dir.join("ad.schema"), AD_SCHEMA).unwrap();
        let conf = format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {dir}/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {dir}/slapd.pid
TLSCertificateFile {dir}/server.pem
TLSCertificateKeyFile {dir}/server.key
TLSCACertificateFile {dir}/ca.pem
database mdb
suffix \"dc=example,dc=org\"
rootdn \"cn=admin,dc=example,dc=org\"
rootpw {root_pw}
directory {db}
",
            dir = dir.display(),
            db = db.display(),
            root_pw = ROOT_PASSWORD,
        );
        let conf_file = dir.join("slapd.conf");
        std::fs::write(&conf_file, conf).unwrap();
        if fresh {
            std::fs::write(dir.join("data.ldif"), DATA).unwrap();
            let out = Command::new("slapadd")
                .arg("-f")
                .arg(&conf_file)
                .arg("-l")
                .arg(dir.join("data.ldif"))
                .output()
                .expect("slapadd (Debian package slapd)");
            assert!(
                out.status.success(),
                "slapadd: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let child = Command::new("slapd")
            .arg("-f")
            .arg(&conf_file)
            .arg("-h")
            .arg(format!(
                "ldap://127.0.0.1:{ldap}/ ldaps://127.0.0.1:{ldaps}/"
            ))
            .args(["-d", "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("slapd.err")).unwrap())
            .spawn()
            .expect("slapd (Debian package slapd)");
        for port in [ldap, ldaps] {
            let addr = format!("127.0.0.1:{port}");
            wait_until("slapd listening", WAIT, || {
                std::net::TcpStream::connect(&addr).is_ok()
            })
            .unwrap();
        }
        Slapd { child }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `portunus admin call ACTION PARAMS...`: (succeeded, what it printed).
fn call(n: &NodeProc, action: &str, params: &[&str]) -> (bool, String) {
    let out = n.admin(&[&["call", action][..], params].concat());
    (out.ok, format!("{}{}", out.stdout, out.stderr))
}

/// `ssh LOGIN echo ...` through `port` with `password`: Ok when it ran, Err(what ssh said).
async fn login(askpass: &Askpass, port: u16, login: &str, password: &str) -> Result<(), String> {
    let mut ssh = askpass.ssh(port, login, password);
    ssh.arg("echo dir-$((4+4))");
    let out = tokio::time::timeout(WAIT, ssh.output())
        .await
        .expect("ssh in time")
        .unwrap();
    let (said, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    if out.status.success() && said.contains("dir-8") {
        return Ok(());
    }
    assert!(err.contains("Permission denied"), "{said} {err}");
    Err(err.into_owned())
}

/// What both tests run: a slapd (with `ldif` applied), an sshd registered as host web-01
/// with local user alice, and one node trusting the directory's CA.
struct Bed {
    slapd: Slapd,
    ldap: u16,
    ldaps: u16,
    _sshd: Sshd,
    c: ProcCluster,
    dir: tempfile::TempDir,
}

async fn bed(ldif: Option<&str>) -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let ca = loopback_tls_files(dir.path());
    let (ldap, ldaps) = (free_tcp().port(), free_tcp().port());
    let slapd = Slapd::start(dir.path(), ldap, ldaps);
    if let Some(ldif) = ldif {
        ldap_change(ldap, ldif);
    }
    let sshd = Sshd::start().await;
    let c =
        ProcCluster::with_admin_env(1, START, &[("PORTUNUS_DIRECTORY_CA", ca.to_str().unwrap())])
            .unwrap();
    sshd_host(
        &c.nodes[0],
        c.dir.path(),
        sshd.port,
        &sshd.client_key,
        ("alice", LOCAL_PASSWORD),
        "web-01",
    );
    Bed {
        slapd,
        ldap,
        ldaps,
        _sshd: sshd,
        c,
        dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_and_ad_users_log_in_against_a_real_directory_over_tls() {
    let mut bed = bed(None).await;
    let n = &bed.c.nodes[0];
    let (ldap, ldaps) = (bed.ldap.to_string(), bed.ldaps.to_string());
    let ldap_settings = |port: &str, password: &str| {
        vec![
            "Server=127.0.0.1".to_string(),
            format!("Port={port}"),
            "IsSSL=false".into(),
            "BaseDN=ou=people,dc=example,dc=org".into(),
            "Account=cn=reader,dc=example,dc=org".into(),
            format!("Password={password}"),
            "Filter=(objectClass=inetOrgPerson)".into(),
        ]
    };
    // Verify says why settings do not work, and what it found when they do.
    let bad = ldap_settings(&ldap, "wrong");
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    let (ok, said) = call(n, "VerifyInstanceLDAPAuthServer", &bad);
    assert!(
        !ok && said.contains("VerificationFailed") && said.contains("refused the service account"),
        "{said}"
    );
    // A server whose certificate names another host (it is for 127.0.0.1, asked as
    // localhost) is refused before any password is sent.
    let mut named = ldap_settings(&ldap, READER_PASSWORD);
    named[0] = "Server=localhost".into();
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    let (ok, said) = call(n, "VerifyInstanceLDAPAuthServer", &named);
    assert!(
        !ok && said.contains("VerificationFailed") && said.contains("certificate"),
        "{said}"
    );
    // A server that accepts the connection and never answers: the check ends at its deadline
    // and says so.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port().to_string();
    let slow = ldap_settings(&silent_port, READER_PASSWORD);
    let slow: Vec<&str> = slow.iter().map(String::as_str).collect();
    let (ok, said) = call(n, "VerifyInstanceLDAPAuthServer", &slow);
    assert!(
        !ok && said.contains("cannot be reached") && said.contains("timeout"),
        "{said}"
    );
    drop(silent);
    let good = ldap_settings(&ldap, READER_PASSWORD);
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let (ok, said) = call(n, "VerifyInstanceLDAPAuthServer", &good);
    assert!(ok && said.contains("1 user entries"), "{said}");
    let (ok, said) = call(n, "ModifyInstanceLDAPAuthServer", &good);
    assert!(ok, "{said}");

    // An LDAP user: no local password, logs in with the directory's over StartTLS.
    let (ok, said) = call(
        n,
        "CreateUser",
        &["UserName=carol", "Source=LDAP", "Password=x"],
    );
    assert!(!ok && said.contains("directory password"), "{said}");
    let (ok, said) = call(n, "CreateUser", &["UserName=carol", "Source=LDAP"]);
    assert!(ok && said.contains("UserId"), "{said}");
    n.admin_ok(&["grant", "host", "carol", "web-01", "--account", "root"]);
    let askpass = Askpass::new();
    let port = n.ssh.port();
    login(&askpass, port, "carol@root@web-01", CAROL_PASSWORD)
        .await
        .unwrap();
    // The directory is the source of her profile: taken at login.
    let (ok, said) = call(n, "ListUsers", &["UserName=carol"]);
    assert!(
        ok && said.contains("Carol Directory") && said.contains("carol@example.org"),
        "{said}"
    );
    // (Each refused run counts a few wrong passwords; a success in between clears them
    // before the lockout.)
    assert!(
        login(&askpass, port, "carol@root@web-01", "not-her-password")
            .await
            .is_err()
    );
    login(&askpass, port, "carol@root@web-01", CAROL_PASSWORD)
        .await
        .unwrap();
    assert!(
        login(&askpass, port, "carol@root@web-01", LOCAL_PASSWORD)
            .await
            .is_err(),
        "a directory user logged in with another user's local password"
    );
    login(&askpass, port, "carol@root@web-01", CAROL_PASSWORD)
        .await
        .unwrap();
    // The web portal asks the directory too.
    let (status, answer) = portal_login(n.api, "carol", CAROL_PASSWORD);
    assert_eq!(
        (status, &answer["next"]),
        (200, &serde_json::json!("portal")),
        "{answer}"
    );
    let (status, answer) = portal_login(n.api, "carol", LOCAL_PASSWORD);
    assert_eq!(status, 401, "{answer}");

    // An AD user over LDAPS, found by sAMAccountName.
    let ad = [
        "Server=127.0.0.1".to_string(),
        format!("Port={ldaps}"),
        "IsSSL=true".into(),
        "BaseDN=dc=example,dc=org".into(),
        "Account=cn=reader,dc=example,dc=org".into(),
        format!("Password={READER_PASSWORD}"),
        "Domain=corp.example".into(),
    ];
    let ad: Vec<&str> = ad.iter().map(String::as_str).collect();
    let (ok, said) = call(n, "VerifyInstanceADAuthServer", &ad);
    assert!(ok && said.contains("1 user entries"), "{said}");
    let (ok, said) = call(n, "ModifyInstanceADAuthServer", &ad);
    assert!(ok, "{said}");
    n.admin_ok(&["call", "CreateUser", "UserName=dave", "Source=AD"]);
    n.admin_ok(&["grant", "host", "dave", "web-01", "--account", "root"]);
    login(&askpass, port, "dave@root@web-01", DAVE_PASSWORD)
        .await
        .unwrap();

    // The directory goes away: its users are refused and the node says why; local users are
    // not affected.
    bed.slapd.stop();
    assert!(login(&askpass, port, "carol@root@web-01", CAROL_PASSWORD)
        .await
        .is_err());
    login(&askpass, port, "alice@root@web-01", LOCAL_PASSWORD)
        .await
        .unwrap();
    let log = n.output();
    assert!(
        log.contains("directory logon cannot be checked") && log.contains("cannot be reached"),
        "{log}"
    );
    // The portal tells the directory user why, and that it is not their password.
    let (status, answer) = portal_login(n.api, "carol", CAROL_PASSWORD);
    let words = answer["error"].as_str().unwrap_or_default();
    assert!(
        status == 500 && words.contains("LDAP directory, which cannot be asked right now"),
        "{status} {answer}"
    );
    let (status, answer) = portal_login(n.api, "alice", LOCAL_PASSWORD);
    assert_eq!(status, 200, "{answer}");
    // Back: carol logs in again (the outage counted no wrong password against her).
    let _slapd = Slapd::start(bed.dir.path(), bed.ldap, bed.ldaps);
    login(&askpass, port, "carol@root@web-01", CAROL_PASSWORD)
        .await
        .unwrap();
}

/// A login to the web portal of `api` (plain HTTP, as the tests' nodes serve it): the status
/// and the JSON answer.
fn portal_login(api: std::net::SocketAddr, user: &str, password: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let body = serde_json::json!({ "user": user, "password": password }).to_string();
    let mut s = std::net::TcpStream::connect(api).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /web/api/login HTTP/1.1\r\nHost: {api}\r\nOrigin: http://{api}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let json = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (
        status,
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    )
}

/// Applies an LDIF change to the running directory as its root (`ldapmodify` of the Debian
/// package ldap-utils), over the plain port on loopback.
fn ldap_change(port: u16, ldif: &str) {
    use std::io::Write;
    let mut child = Command::new("ldapmodify")
        .args(["-x", "-H", &format!("ldap://127.0.0.1:{port}/")])
        .args(["-D", ROOT_DN, "-w", ROOT_PASSWORD])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ldapmodify (Debian package ldap-utils)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ldapmodify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A call that must succeed, its answer as JSON.
fn json_call(n: &NodeProc, action: &str, params: &[&str]) -> serde_json::Value {
    let out = n.admin(&[&["call", action][..], params].concat());
    assert!(out.ok, "{action}: {}{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{action}: {e}: {}", out.stdout))
}

/// Names of the users `ListUsers` answers for `params`, sorted, with whether each is locked.
fn users(n: &NodeProc, params: &[&str]) -> Vec<(String, bool)> {
    let v = json_call(n, "ListUsers", &[params, &["PageSize=100"]].concat());
    let mut out: Vec<(String, bool)> = v["Users"]
        .as_array()
        .expect("Users")
        .iter()
        .map(|u| {
            let state = u["UserState"].to_string();
            (
                u["UserName"].as_str().expect("UserName").to_string(),
                state.contains("Locked"),
            )
        })
        .collect();
    out.sort();
    out
}

/// The id of the user group named `name`.
fn group_id(n: &NodeProc, name: &str) -> String {
    let v = json_call(n, "ListUserGroups", &[&format!("UserGroupName={name}")]);
    let groups = v["UserGroups"].as_array().expect("UserGroups");
    let g = groups
        .iter()
        .find(|g| g["UserGroupName"] == name)
        .unwrap_or_else(|| panic!("no group {name}: {v}"));
    g["UserGroupId"].as_str().expect("UserGroupId").to_string()
}

/// Names of a group's members.
fn members(n: &NodeProc, group: &str) -> Vec<String> {
    let id = group_id(n, group);
    users(n, &[&format!("UserGroupId={id}")])
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

const ERIN_PASSWORD: &str = "erin-Dir-Passw0rd";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_sync_creates_locks_and_unlocks_users_and_keeps_their_groups() {
    // More of the directory: erin (with the attribute that can disable her), a user named as
    // the bastion's local alice, frank, and a group naming carol and erin.
    let ldif = "dn: uid=erin,ou=people,dc=example,dc=org
changetype: add
objectClass: inetOrgPerson
objectClass: adShapedUser
uid: erin
cn: Erin Directory
sn: Directory
mail: erin@example.org
mobile: +1 555 0100
userPassword: erin-Dir-Passw0rd

dn: uid=alice,ou=people,dc=example,dc=org
changetype: add
objectClass: inetOrgPerson
uid: alice
cn: Alice Elsewhere
sn: Elsewhere

dn: uid=frank,ou=people,dc=example,dc=org
changetype: add
objectClass: inetOrgPerson
uid: frank
cn: Frank Directory
sn: Directory

dn: cn=dba,ou=people,dc=example,dc=org
changetype: add
objectClass: groupOfNames
cn: dba
member: uid=carol,ou=people,dc=example,dc=org
member: UID=Erin, ou=people,dc=example,dc=org
";
    let mut bed = bed(Some(ldif)).await;
    let (ldap, ldaps) = (bed.ldap, bed.ldaps);
    let n = &bed.c.nodes[0];
    // A sync before any settings says what is missing.
    let (ok, said) = call(n, "SyncInstanceLDAPUsers", &[]);
    assert!(
        !ok && said.contains("VerificationFailed") && said.contains("ModifyInstanceLDAPAuthServer"),
        "{said}"
    );
    let settings = [
        "Server=127.0.0.1".to_string(),
        format!("Port={ldap}"),
        "BaseDN=ou=people,dc=example,dc=org".into(),
        "Account=cn=reader,dc=example,dc=org".into(),
        format!("Password={READER_PASSWORD}"),
        "Filter=(objectClass=inetOrgPerson)".into(),
        "IsSyncOuAsUserGroup=true".into(),
        "IsSyncGroupAsUserGroup=true".into(),
        "IsSyncMobileAttr=false".into(),
        "SyncInterval=24".into(),
    ];
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let mut too_often = settings.clone();
    too_often.retain(|p| !p.starts_with("SyncInterval="));
    too_often.push("SyncInterval=3");
    let (ok, said) = call(n, "ModifyInstanceLDAPAuthServer", &too_often);
    assert!(
        !ok && said.contains("SyncInterval") && said.contains("4 to 168"),
        "{said}"
    );
    json_call(n, "ModifyInstanceLDAPAuthServer", &settings);

    // The first sync: carol, erin and frank are created; alice is the local user's name.
    let r = &json_call(n, "SyncInstanceLDAPUsers", &[])["Report"];
    assert_eq!(
        (
            &r["Entries"],
            &r["Created"],
            &r["Locked"],
            &r["GroupsCreated"]
        ),
        (&4.into(), &3.into(), &0.into(), &2.into()),
        "{r}"
    );
    assert_eq!(r["UserConflicts"], serde_json::json!(["alice"]), "{r}");
    assert_eq!(
        users(n, &["Source=LDAP"]),
        [
            ("carol".into(), false),
            ("erin".into(), false),
            ("frank".into(), false)
        ]
    );
    let erin = json_call(n, "ListUsers", &["UserName=erin"]);
    let erin = &erin["Users"][0];
    assert_eq!(erin["DisplayName"], "Erin Directory", "{erin}");
    assert_eq!(erin["Email"], "erin@example.org", "{erin}");
    assert_eq!(
        erin["Mobile"], "",
        "IsSyncMobileAttr=false took the mobile: {erin}"
    );
    let local = json_call(n, "ListUsers", &["UserName=alice"]);
    assert_eq!(local["Users"][0]["Source"], "Local", "{local}");
    // Groups: the unit (people) and the directory group (dba), as the directory says.
    assert_eq!(members(n, "dba"), ["carol", "erin"]);
    assert_eq!(members(n, "people"), ["carol", "erin", "frank"]);

    // erin logs in with her directory password.
    n.admin_ok(&["grant", "host", "erin", "web-01", "--account", "root"]);
    let askpass = Askpass::new();
    let port = n.ssh.port();
    login(&askpass, port, "erin@root@web-01", ERIN_PASSWORD)
        .await
        .unwrap();

    // The directory disables erin (this slapd does not refuse her bind: only the bastion's
    // lock can), removes frank and takes carol out of dba.
    ldap_change(
        ldap,
        "dn: uid=erin,ou=people,dc=example,dc=org
changetype: modify
replace: nsAccountLock
nsAccountLock: TRUE

dn: uid=frank,ou=people,dc=example,dc=org
changetype: delete

dn: cn=dba,ou=people,dc=example,dc=org
changetype: modify
delete: member
member: uid=carol,ou=people,dc=example,dc=org
",
    );
    let r = &json_call(n, "SyncInstanceLDAPUsers", &[])["Report"];
    assert_eq!((&r["Locked"], &r["Created"]), (&2.into(), &0.into()), "{r}");
    assert_eq!(
        users(n, &["Source=LDAP"]),
        [
            ("carol".into(), false),
            ("erin".into(), true),
            ("frank".into(), true)
        ]
    );
    assert_eq!(members(n, "dba"), ["erin"]);
    assert_eq!(members(n, "people"), ["carol", "erin"]);
    let refused = login(&askpass, port, "erin@root@web-01", ERIN_PASSWORD).await;
    assert!(refused.is_err(), "a user the directory disabled logged in");

    // Enabled again: the sync lifts its own lock; an administrator's lock on carol stays.
    ldap_change(
        ldap,
        "dn: uid=erin,ou=people,dc=example,dc=org
changetype: modify
replace: nsAccountLock
nsAccountLock: FALSE
",
    );
    let carol = json_call(n, "ListUsers", &["UserName=carol"]);
    let carol_id = carol["Users"][0]["UserId"].as_str().unwrap().to_string();
    json_call(n, "LockUsers", &[&format!("UserIds=[\"{carol_id}\"]")]);
    let r = &json_call(n, "SyncInstanceLDAPUsers", &[])["Report"];
    assert_eq!(
        (&r["Locked"], &r["Unlocked"]),
        (&0.into(), &1.into()),
        "{r}"
    );
    assert_eq!(
        users(n, &["Source=LDAP"]),
        [
            ("carol".into(), true),
            ("erin".into(), false),
            ("frank".into(), true)
        ]
    );
    login(&askpass, port, "erin@root@web-01", ERIN_PASSWORD)
        .await
        .unwrap();

    // The settings show the schedule and the last run.
    let got = json_call(n, "GetInstanceLDAPAuthServer", &[]);
    let l = &got["LDAP"];
    assert_eq!(
        (
            &l["SyncInterval"],
            &l["IsSyncMobileAttr"],
            &l["IsSyncOuAsUserGroup"]
        ),
        (&24.into(), &false.into(), &true.into()),
        "{got}"
    );
    assert!(l["LatestSyncTime"].as_u64().is_some_and(|t| t > 0), "{got}");
    assert_eq!(l["LatestSync"]["Unlocked"], 1, "{got}");

    // An AD directory over LDAPS: dave (sAMAccountName) is created with his memberOf group;
    // disabled through userAccountControl, he is locked.
    let ad = [
        "Server=127.0.0.1".to_string(),
        format!("Port={ldaps}"),
        "IsSSL=true".into(),
        "BaseDN=dc=example,dc=org".into(),
        "Account=cn=reader,dc=example,dc=org".into(),
        format!("Password={READER_PASSWORD}"),
        "Domain=corp.example".into(),
        "IsSyncGroupAsUserGroup=true".into(),
    ];
    let ad: Vec<&str> = ad.iter().map(String::as_str).collect();
    json_call(n, "ModifyInstanceADAuthServer", &ad);
    let r = &json_call(n, "SyncInstanceADUsers", &[])["Report"];
    assert_eq!(
        (&r["Entries"], &r["Created"]),
        (&1.into(), &1.into()),
        "{r}"
    );
    assert_eq!(users(n, &["Source=AD"]), [("dave".into(), false)]);
    assert_eq!(members(n, "ops"), ["dave"]);
    ldap_change(
        ldap,
        "dn: cn=Dave Domain,ou=people,dc=example,dc=org
changetype: modify
replace: userAccountControl
userAccountControl: 514
",
    );
    let r = &json_call(n, "SyncInstanceADUsers", &[])["Report"];
    assert_eq!(r["Locked"], 1, "{r}");
    assert_eq!(users(n, &["Source=AD"]), [("dave".into(), true)]);
    let dave = json_call(n, "ListUsers", &["UserName=dave"]);
    assert_eq!(dave["Users"][0]["LockedByDirectory"], true, "{dave}");
    // The LDAP users were not touched by the AD sync.
    assert_eq!(
        users(n, &["Source=LDAP"]),
        [
            ("carol".into(), true),
            ("erin".into(), false),
            ("frank".into(), true)
        ]
    );

    // The directory is down: the sync says why, records it, and changes nothing.
    bed.slapd.stop();
    let (ok, said) = call(n, "SyncInstanceLDAPUsers", &[]);
    assert!(
        !ok && said.contains("VerificationFailed") && said.contains("cannot be reached"),
        "{said}"
    );
    let got = json_call(n, "GetInstanceLDAPAuthServer", &[]);
    let error = got["LDAP"]["LatestSync"]["Error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error recorded: {got}"));
    assert!(error.contains("cannot be reached"), "{got}");
    assert_eq!(
        users(n, &["Source=LDAP"]),
        [
            ("carol".into(), true),
            ("erin".into(), false),
            ("frank".into(), true)
        ]
    );
}
