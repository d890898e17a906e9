//! LDAP and Active Directory authentication: each node asks the directory itself, over LDAPS
//! (`IsSSL`) or StartTLS (otherwise; a directory that cannot start TLS is refused, a password
//! never travels in the clear), checking the server's certificate against the node's CA bundle
//! (`--directory-ca`, else the system's).
//!
//! A login is search-then-bind: bind as the service account (`Account`, its password sealed in
//! the state), find the one entry under `BaseDN` whose login attribute (`LoginNameMapping`;
//! `uid` for LDAP, `sAMAccountName` for AD, which also matches `userPrincipalName`) equals the
//! login name within `Filter`, then bind as that entry with the password given. An empty
//! password is refused before any bind (LDAP would take it as an anonymous bind). The standby
//! server is tried when the main one cannot be reached.
//!
//! A synchronization ([`Directory::snapshot`]) reads every user entry the settings' filter
//! matches (paged, so AD's page limit does not cut it short) with the attributes that say
//! whether the account is disabled, and the groups each entry belongs to as the settings ask;
//! the model's `SyncDirectory` applies what it read.

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use portunus_model::{DirectoryEntry, DirectorySettings, MAX_SYNC_ENTRIES};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// How long connecting, the TLS handshake and each operation may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Which kind of directory: the defaults of the attribute mappings differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectoryKind {
    Ldap,
    Ad,
}

impl DirectoryKind {
    /// `LDAP` or `AD`, as messages name it.
    pub fn name(self) -> &'static str {
        match self {
            DirectoryKind::Ldap => "LDAP",
            DirectoryKind::Ad => "AD",
        }
    }
}

/// Why a directory check failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    /// Neither server answered (or TLS could not be set up): an outage, not the user's fault.
    #[error("the {0} server cannot be reached: {1}")]
    Unreachable(&'static str, String),
    /// The settings do not work (service account refused, bad base DN or filter).
    #[error("the {0} settings do not work: {1}")]
    Misconfigured(&'static str, String),
    /// No entry, several entries, or a wrong password: the same to the client.
    #[error("the {0} directory did not accept the login: {1}")]
    Refused(&'static str, String),
}

/// What the directory says about a user who logged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    pub dn: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
}

/// The node's directory client: its TLS configuration.
pub struct Directory {
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Directory")
    }
}

impl Directory {
    /// Trusting the certificates of the PEM bundle `pem` (`source` names it in errors).
    pub fn new(pem: &[u8], source: &str) -> Result<Directory, String> {
        let tls = crate::api_tls::client_trusting(pem, source)?;
        Ok(Directory { tls })
    }

    /// Checks `login` with `password` against the directory; the user's entry on success.
    pub async fn authenticate(
        &self,
        kind: DirectoryKind,
        settings: &DirectorySettings,
        service_password: Option<&str>,
        login: &str,
        password: &str,
    ) -> Result<DirectoryUser, DirectoryError> {
        let k = kind.name();
        if password.is_empty() {
            return Err(DirectoryError::Refused(k, "an empty password".into()));
        }
        let mut ldap = self.bound_service(kind, settings, service_password).await?;
        let user = find_user(&mut ldap, kind, settings, login).await?;
        let bound = tokio::time::timeout(TIMEOUT, ldap.simple_bind(&user.dn, password))
            .await
            .map_err(|_| DirectoryError::Unreachable(k, "no answer to the user's bind".into()))?
            .map_err(|e| DirectoryError::Unreachable(k, e.to_string()))?;
        let _ = ldap.unbind().await;
        match bound.rc {
            0 => Ok(user),
            49 => Err(DirectoryError::Refused(k, "wrong password".into())),
            rc => Err(DirectoryError::Refused(
                k,
                format!("the user's bind failed (result {rc}: {})", bound.text),
            )),
        }
    }

    /// Checks the settings: a server answers over TLS, the service account binds, the base DN
    /// can be searched. Says what it found.
    pub async fn verify(
        &self,
        kind: DirectoryKind,
        settings: &DirectorySettings,
        service_password: Option<&str>,
    ) -> Result<String, DirectoryError> {
        let k = kind.name();
        let mut ldap = self.bound_service(kind, settings, service_password).await?;
        let filter = user_filter(kind, settings, None);
        let found = tokio::time::timeout(
            TIMEOUT,
            ldap.search(&settings.base_dn, Scope::Subtree, &filter, vec!["1.1"]),
        )
        .await
        .map_err(|_| DirectoryError::Unreachable(k, "no answer to the search".into()))?
        .map_err(|e| DirectoryError::Unreachable(k, e.to_string()))?;
        let (entries, result) = (found.0, found.1);
        let _ = ldap.unbind().await;
        if result.rc != 0 && result.rc != 4 {
            return Err(DirectoryError::Misconfigured(
                k,
                format!(
                    "searching {} with {filter} failed (result {}: {})",
                    settings.base_dn, result.rc, result.text
                ),
            ));
        }
        Ok(format!(
            "{k} server answered over TLS; the service account bound; {} user entries under {} \
             match {filter}",
            entries.len(),
            settings.base_dn
        ))
    }

    /// Every user entry the settings match, as a synchronization takes them.
    pub async fn snapshot(
        &self,
        kind: DirectoryKind,
        settings: &DirectorySettings,
        service_password: Option<&str>,
    ) -> Result<Vec<DirectoryEntry>, DirectoryError> {
        let k = kind.name();
        let mut ldap = self.bound_service(kind, settings, service_password).await?;
        let login_attr = login_attribute(kind, settings);
        let mapped = mapped(kind, settings);
        let mut attrs: Vec<String> = vec![login_attr.clone()];
        attrs.extend(mapped.iter().cloned());
        attrs.extend(
            [
                "cn",
                "memberOf",
                "userAccountControl",
                "pwdAccountLockedTime",
                "nsAccountLock",
            ]
            .map(String::from),
        );
        let filter = user_filter(kind, settings, None);
        let found = search_all(&mut ldap, k, "user", &settings.base_dn, &filter, attrs).await?;
        let group_members = if settings.sync.groups_as_groups {
            let attrs = ["cn", "member", "uniqueMember", "memberUid"].map(String::from);
            let base = &settings.base_dn;
            let groups = search_all(&mut ldap, k, "group", base, GROUP_FILTER, attrs.to_vec());
            GroupMembers::of(&groups.await?)
        } else {
            GroupMembers::default()
        };
        let _ = ldap.unbind().await;
        if found.len() > MAX_SYNC_ENTRIES {
            return Err(DirectoryError::Misconfigured(
                k,
                format!(
                    "{} user entries match {filter}; a synchronization takes at most \
                     {MAX_SYNC_ENTRIES}: narrow the filter",
                    found.len()
                ),
            ));
        }
        let entries: Vec<DirectoryEntry> = found
            .into_iter()
            .filter_map(|e| {
                let first = |a: &str| e.attrs.get(a).and_then(|v| v.first()).cloned();
                let login = first(&login_attr)?;
                let mut groups = BTreeSet::new();
                if settings.sync.ou_as_group {
                    groups.extend(organizational_unit(&e.dn));
                }
                if settings.sync.groups_as_groups {
                    for g in e.attrs.get("memberOf").into_iter().flatten() {
                        groups.extend(first_rdn_value(g));
                    }
                    groups.extend(group_members.of_entry(&e.dn, &login));
                }
                Some(DirectoryEntry {
                    display_name: first(&mapped[0]).or_else(|| first("cn")),
                    email: first(&mapped[1]),
                    mobile: first(&mapped[2]),
                    disabled: disabled(&e),
                    groups: groups.into_iter().collect(),
                    dn: e.dn,
                    login,
                })
            })
            .collect();
        Ok(entries)
    }

    /// A connection to the main server (or the standby one) with the service account bound.
    async fn bound_service(
        &self,
        kind: DirectoryKind,
        settings: &DirectorySettings,
        service_password: Option<&str>,
    ) -> Result<ldap3::Ldap, DirectoryError> {
        let k = kind.name();
        let mut ldap = match self.connect(settings, &settings.server).await {
            Ok(l) => l,
            Err(main) if !settings.standby_server.is_empty() => {
                tracing::warn!(directory = k, server = %settings.server, error = %main, "directory: trying the standby server");
                self.connect(settings, &settings.standby_server)
                    .await
                    .map_err(|standby| {
                        DirectoryError::Unreachable(
                            k,
                            format!(
                                "{}: {main}; standby {}: {standby}",
                                settings.server, settings.standby_server
                            ),
                        )
                    })?
            }
            Err(main) => {
                return Err(DirectoryError::Unreachable(
                    k,
                    format!("{}: {main}", settings.server),
                ))
            }
        };
        if settings.account.is_empty() {
            return Ok(ldap);
        }
        let Some(password) = service_password.filter(|p| !p.is_empty()) else {
            return Err(DirectoryError::Misconfigured(
                k,
                "the service account has no password".into(),
            ));
        };
        let bound = tokio::time::timeout(TIMEOUT, ldap.simple_bind(&settings.account, password))
            .await
            .map_err(|_| DirectoryError::Unreachable(k, "no answer to the service bind".into()))?
            .map_err(|e| DirectoryError::Unreachable(k, e.to_string()))?;
        if bound.rc != 0 {
            return Err(DirectoryError::Misconfigured(
                k,
                format!(
                    "the directory refused the service account {} (result {}: {})",
                    settings.account, bound.rc, bound.text
                ),
            ));
        }
        Ok(ldap)
    }

    async fn connect(
        &self,
        settings: &DirectorySettings,
        server: &str,
    ) -> Result<ldap3::Ldap, String> {
        let host = if server.contains(':') && !server.starts_with('[') {
            format!("[{server}]")
        } else {
            server.to_string()
        };
        let (scheme, starttls) = if settings.is_ssl {
            ("ldaps", false)
        } else {
            ("ldap", true)
        };
        let url = format!("{scheme}://{host}:{}", settings.port);
        let conn = LdapConnSettings::new()
            .set_conn_timeout(TIMEOUT)
            .set_config(self.tls.clone())
            .set_starttls(starttls);
        let (driver, ldap) =
            tokio::time::timeout(TIMEOUT, LdapConnAsync::with_settings(conn, &url))
                .await
                .map_err(|_| format!("no connection to {url} within {TIMEOUT:?}"))?
                .map_err(|e| format!("{url}: {e}"))?;
        tokio::spawn(async move {
            if let Err(e) = driver.drive().await {
                tracing::debug!(error = %e, "directory connection ended");
            }
        });
        Ok(ldap)
    }
}

/// How long reading the whole directory may take.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Entries of the usual group classes (OpenLDAP, AD, POSIX).
const GROUP_FILTER: &str = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)\
     (objectClass=group)(objectClass=posixGroup))";

/// Every entry under `base` matching `filter`, page by page; Err says why the search failed.
async fn search_all(
    ldap: &mut ldap3::Ldap,
    k: &'static str,
    what: &str,
    base: &str,
    filter: &str,
    attrs: Vec<String>,
) -> Result<Vec<SearchEntry>, DirectoryError> {
    let searched = tokio::time::timeout(SNAPSHOT_TIMEOUT, async {
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(500)),
        ];
        let mut stream = ldap
            .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs)
            .await?;
        let mut out = Vec::new();
        while let Some(entry) = stream.next().await? {
            out.push(SearchEntry::construct(entry));
            if out.len() > MAX_SYNC_ENTRIES {
                break;
            }
        }
        let result = stream.finish().await;
        if result.rc != 0 && out.len() <= MAX_SYNC_ENTRIES {
            result.success()?;
        }
        Ok::<_, ldap3::LdapError>(out)
    })
    .await
    .map_err(|_| {
        DirectoryError::Unreachable(
            k,
            format!("the {what} search took over {SNAPSHOT_TIMEOUT:?}"),
        )
    })?;
    searched.map_err(|e| {
        use ldap3::LdapError as E;
        let why = format!("the {what} search of {base} with {filter}: {e}");
        match e {
            // The connection went away mid-search: the directory, not the settings.
            E::Io { .. }
            | E::EndOfStream
            | E::OpSend { .. }
            | E::ResultRecv { .. }
            | E::Timeout { .. } => DirectoryError::Unreachable(k, why),
            _ => DirectoryError::Misconfigured(k, why),
        }
    })
}

/// Whether the directory says the account is disabled: AD's `userAccountControl` with flag 2
/// (ACCOUNTDISABLE), OpenLDAP ppolicy's `pwdAccountLockedTime`, or `nsAccountLock: TRUE`.
fn disabled(e: &SearchEntry) -> bool {
    let first = |a: &str| e.attrs.get(a).and_then(|v| v.first());
    let uac = first("userAccountControl").and_then(|v| v.trim().parse::<u64>().ok());
    uac.is_some_and(|f| f & 2 != 0)
        || first("pwdAccountLockedTime").is_some()
        || first("nsAccountLock").is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The value of a DN's first component (`cn=dba,ou=groups,...` -> `dba`).
fn first_rdn_value(dn: &str) -> Option<String> {
    let rdn = split_dn(dn).into_iter().next()?;
    let (_, value) = rdn.split_once('=')?;
    Some(unescape(value.trim())).filter(|v| !v.is_empty())
}

/// The organizational unit holding an entry: the first `ou=` component after the entry's own.
fn organizational_unit(dn: &str) -> Option<String> {
    split_dn(dn).into_iter().skip(1).find_map(|rdn| {
        let (attr, value) = rdn.split_once('=')?;
        attr.trim()
            .eq_ignore_ascii_case("ou")
            .then(|| unescape(value.trim()))
            .filter(|v| !v.is_empty())
    })
}

/// A DN's components, split at unescaped commas.
fn split_dn(dn: &str) -> Vec<String> {
    let (mut out, mut cur, mut escaped) = (Vec::new(), String::new(), false);
    for c in dn.chars() {
        match c {
            _ if escaped => {
                cur.push('\\');
                cur.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            ',' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// A DN value with its backslash escapes (`\,`, `\2C`) undone.
fn unescape(v: &str) -> String {
    let mut out = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
            } else {
                out.push(b[i + 1]);
                i += 2;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Directory groups by their members: member DNs (compared case-insensitively) and POSIX
/// `memberUid` login names.
#[derive(Default)]
struct GroupMembers {
    by_dn: BTreeMap<String, Vec<String>>,
    by_uid: BTreeMap<String, Vec<String>>,
}

impl GroupMembers {
    fn of(groups: &[SearchEntry]) -> GroupMembers {
        let mut out = GroupMembers::default();
        for g in groups {
            let Some(name) = g
                .attrs
                .get("cn")
                .and_then(|v| v.first())
                .cloned()
                .or_else(|| first_rdn_value(&g.dn))
            else {
                continue;
            };
            for attr in ["member", "uniqueMember"] {
                for dn in g.attrs.get(attr).into_iter().flatten() {
                    out.by_dn
                        .entry(normal_dn(dn))
                        .or_default()
                        .push(name.clone());
                }
            }
            for uid in g.attrs.get("memberUid").into_iter().flatten() {
                out.by_uid
                    .entry(uid.clone())
                    .or_default()
                    .push(name.clone());
            }
        }
        out
    }

    fn of_entry(&self, dn: &str, login: &str) -> Vec<String> {
        let by_dn = self.by_dn.get(&normal_dn(dn)).into_iter().flatten();
        by_dn
            .chain(self.by_uid.get(login).into_iter().flatten())
            .cloned()
            .collect()
    }
}

/// A DN compared loosely: lower case, no spaces around the separators.
fn normal_dn(dn: &str) -> String {
    split_dn(dn)
        .iter()
        .map(|rdn| match rdn.split_once('=') {
            Some((a, v)) => format!("{}={}", a.trim(), v.trim()),
            None => rdn.trim().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

/// The attribute holding the login name.
fn login_attribute(kind: DirectoryKind, settings: &DirectorySettings) -> String {
    match (settings.login_name_mapping.trim(), kind) {
        ("", DirectoryKind::Ldap) => "uid".into(),
        ("", DirectoryKind::Ad) => "sAMAccountName".into(),
        (attr, _) => attr.to_string(),
    }
}

/// The search filter for `login` (every user entry without one), within the settings' filter.
fn user_filter(kind: DirectoryKind, settings: &DirectorySettings, login: Option<&str>) -> String {
    let attr = login_attribute(kind, settings);
    let by_name = match (login, kind) {
        (None, _) => format!("({attr}=*)"),
        (Some(l), DirectoryKind::Ad) if settings.login_name_mapping.trim().is_empty() => {
            let l = ldap3::ldap_escape(l);
            format!("(|({attr}={l})(userPrincipalName={l}))")
        }
        (Some(l), _) => format!("({attr}={})", ldap3::ldap_escape(l)),
    };
    match settings.filter.trim() {
        "" => by_name,
        f if f.starts_with('(') => format!("(&{f}{by_name})"),
        f => format!("(&({f}){by_name})"),
    }
}

/// Mapped attributes: (display name, e-mail, mobile).
fn mapped(kind: DirectoryKind, settings: &DirectorySettings) -> [String; 3] {
    let or = |v: &str, d: &str| {
        if v.trim().is_empty() {
            d.to_string()
        } else {
            v.trim().to_string()
        }
    };
    let name_default = match kind {
        DirectoryKind::Ldap => "cn",
        DirectoryKind::Ad => "displayName",
    };
    [
        or(&settings.name_mapping, name_default),
        or(&settings.email_mapping, "mail"),
        or(&settings.mobile_mapping, "mobile"),
    ]
}

async fn find_user(
    ldap: &mut ldap3::Ldap,
    kind: DirectoryKind,
    settings: &DirectorySettings,
    login: &str,
) -> Result<DirectoryUser, DirectoryError> {
    let k = kind.name();
    let filter = user_filter(kind, settings, Some(login));
    let attrs = mapped(kind, settings);
    let mut wanted: Vec<&str> = attrs.iter().map(String::as_str).collect();
    wanted.push("cn");
    let found = tokio::time::timeout(
        TIMEOUT,
        ldap.search(&settings.base_dn, Scope::Subtree, &filter, wanted),
    )
    .await
    .map_err(|_| DirectoryError::Unreachable(k, "no answer to the search".into()))?
    .map_err(|e| DirectoryError::Unreachable(k, e.to_string()))?;
    let (entries, result) = (found.0, found.1);
    if result.rc != 0 {
        return Err(DirectoryError::Misconfigured(
            k,
            format!(
                "searching {} failed (result {}: {})",
                settings.base_dn, result.rc, result.text
            ),
        ));
    }
    let mut entries: Vec<SearchEntry> = entries.into_iter().map(SearchEntry::construct).collect();
    match entries.len() {
        0 => Err(DirectoryError::Refused(
            k,
            format!("no entry matches {filter}"),
        )),
        1 => {
            let e = entries.remove(0);
            let first = |a: &str| e.attrs.get(a).and_then(|v| v.first()).cloned();
            Ok(DirectoryUser {
                display_name: first(&attrs[0]).or_else(|| first("cn")),
                email: first(&attrs[1]),
                mobile: first(&attrs[2]),
                dn: e.dn,
            })
        }
        n => Err(DirectoryError::Refused(
            k,
            format!("{n} entries match {filter}; the login attribute must be unique"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(filter: &str, login_attr: &str) -> DirectorySettings {
        DirectorySettings {
            filter: filter.into(),
            login_name_mapping: login_attr.into(),
            ..Default::default()
        }
    }

    fn entry(dn: &str, attrs: &[(&str, &str)]) -> SearchEntry {
        let mut e = SearchEntry {
            dn: dn.into(),
            attrs: Default::default(),
            bin_attrs: Default::default(),
        };
        for (a, v) in attrs {
            e.attrs
                .entry(a.to_string())
                .or_default()
                .push(v.to_string());
        }
        e
    }

    #[test]
    fn dns_give_their_unit_and_first_value_with_escapes_undone() {
        let dn = "CN=Dave\\, Jr.,OU=Site\\2CEast,OU=people,DC=corp,DC=example";
        assert_eq!(first_rdn_value(dn).as_deref(), Some("Dave, Jr."));
        assert_eq!(organizational_unit(dn).as_deref(), Some("Site,East"));
        assert_eq!(organizational_unit("uid=carol,dc=example,dc=org"), None);
        // The entry's own RDN is not its unit, even when it is an ou.
        assert_eq!(
            organizational_unit("ou=ops,ou=teams,dc=x").as_deref(),
            Some("teams")
        );
        assert_eq!(
            normal_dn("UID=Carol, OU=People ,dc=Example"),
            "uid=carol,ou=people,dc=example"
        );
    }

    #[test]
    fn disabled_accounts_are_read_from_each_directorys_attribute() {
        assert!(disabled(&entry("cn=a", &[("userAccountControl", "514")])));
        assert!(!disabled(&entry("cn=a", &[("userAccountControl", "512")])));
        assert!(disabled(&entry(
            "cn=a",
            &[("pwdAccountLockedTime", "000001010000Z")]
        )));
        assert!(disabled(&entry("cn=a", &[("nsAccountLock", "TRUE")])));
        assert!(!disabled(&entry("cn=a", &[("nsAccountLock", "false")])));
        assert!(!disabled(&entry("cn=a", &[("mail", "a@example.org")])));
    }

    #[test]
    fn group_entries_name_their_members_by_dn_or_uid() {
        let groups = [
            entry(
                "cn=dba,ou=groups,dc=x",
                &[("cn", "dba"), ("member", "UID=carol, ou=people,dc=x")],
            ),
            entry("cn=web,ou=groups,dc=x", &[("memberUid", "carol")]),
            entry("cn=none,ou=groups,dc=x", &[("member", "uid=bob,dc=x")]),
        ];
        let m = GroupMembers::of(&groups);
        assert_eq!(
            m.of_entry("uid=carol,ou=people,dc=x", "carol"),
            ["dba", "web"]
        );
        assert!(m.of_entry("uid=dave,ou=people,dc=x", "dave").is_empty());
    }

    #[test]
    fn filters_escape_the_login_and_keep_the_administrators_filter() {
        let s = settings("objectClass=person", "");
        assert_eq!(
            user_filter(DirectoryKind::Ldap, &s, Some("bob*)(uid=*")),
            "(&(objectClass=person)(uid=bob\\2a\\29\\28uid=\\2a))"
        );
        assert_eq!(
            user_filter(DirectoryKind::Ad, &settings("", ""), Some("carol")),
            "(|(sAMAccountName=carol)(userPrincipalName=carol))"
        );
        assert_eq!(
            user_filter(
                DirectoryKind::Ad,
                &settings("(memberOf=cn=ops)", "mail"),
                Some("c")
            ),
            "(&(memberOf=cn=ops)(mail=c))"
        );
        assert_eq!(
            user_filter(DirectoryKind::Ldap, &settings("", ""), None),
            "(uid=*)"
        );
    }

    #[tokio::test]
    async fn an_empty_password_is_refused_before_the_directory_is_asked() {
        let pem =
            b"-----BEGIN CERTIFICATE-----\nMIIBhTCCASugAwIBAgIUW\n-----END CERTIFICATE-----\n";
        assert!(Directory::new(pem, "bad.pem").is_err());
        let ca = rcgen::generate_simple_self_signed(vec!["directory.test".to_string()]).unwrap();
        let d = Directory::new(ca.cert.pem().as_bytes(), "test CA").unwrap();
        // An unroutable server: the empty password never gets that far.
        let s = DirectorySettings {
            server: "192.0.2.1".into(),
            port: 636,
            is_ssl: true,
            ..Default::default()
        };
        let e = d
            .authenticate(DirectoryKind::Ldap, &s, None, "carol", "")
            .await
            .unwrap_err();
        assert_eq!(
            e,
            DirectoryError::Refused("LDAP", "an empty password".into())
        );
    }
}
