//! `portunus admin`: a thin client of the management API (the same signed Bastionhost RPC
//! calls as the official SDK, through [`portunus_ops::client`]) for the common administration
//! tasks: users, hosts, databases, their accounts, authorizations and O&M tokens. Tables by
//! default, the API's JSON with `--json`; API errors print as `Code: Message` and exit non-zero.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use portunus_ops::client::{Client, ClientError, Credentials, Endpoint, Trust};
use serde_json::{json, Value};
use std::path::PathBuf;

/// `println!` that stops quietly when standard output is closed (`| head`).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod audit;
mod host_verify;
mod secrets;
mod session;
mod session_verify;
mod sql_rule;
mod totp;

/// The API endpoint used when none is given: a node's default listen address on this machine.
pub const DEFAULT_ENDPOINT: &str = "https://127.0.0.1:8443";

/// Options of `portunus admin`.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// API URL of any node or of the load balancer: https://HOST:PORT, or http://HOST:PORT for
    /// a node started with --api-plaintext. Default https://127.0.0.1:8443.
    #[arg(long, env = "PORTUNUS_ENDPOINT", global = true)]
    pub endpoint: Option<String>,
    /// AccessKey id (with --access-key-secret; else read from --data-dir).
    #[arg(long, env = "PORTUNUS_ACCESS_KEY_ID", global = true)]
    pub access_key_id: Option<String>,
    /// AccessKey secret.
    #[arg(
        long,
        env = "PORTUNUS_ACCESS_KEY_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub access_key_secret: Option<String>,
    /// A node's data directory: its first administrator's key (admin-credentials.toml) is used
    /// when no key is given, and its self-signed certificate (api-tls-cert.pem) is trusted.
    #[arg(long, env = "PORTUNUS_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// PEM file with the certificate to trust for https: the node's own (pinned) or a CA.
    #[arg(long, global = true, conflicts_with = "insecure")]
    pub ca_file: Option<PathBuf>,
    /// Accept any https certificate (encrypted, but the node is not authenticated).
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Print the API's JSON instead of tables (lists: every page's items as one array).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// What to administer.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Bastion users (the engineers who log in).
    #[command(subcommand)]
    User(UserCmd),
    /// Hosts and their accounts.
    #[command(subcommand)]
    Host(HostCmd),
    /// Databases and their accounts.
    #[command(subcommand)]
    Database(DatabaseCmd),
    /// What a user may reach: hosts and databases with their accounts.
    #[command(subcommand)]
    Grant(GrantCmd),
    /// O&M tokens: one-off passwords for a user to reach an asset account.
    #[command(subcommand)]
    Token(TokenCmd),
    /// The trail of administrative API calls (Admin or Auditor key).
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Sessions and what they did (Admin or Auditor key).
    #[command(subcommand)]
    Session(session::SessionCmd),
    /// SQL rules: statements the database gateway refuses.
    #[command(subcommand)]
    SqlRule(sql_rule::SqlRuleCmd),
    /// The stored secrets: re-seal them after a sealing key rotation (Admin key).
    #[command(subcommand)]
    Secrets(secrets::SecretsCmd),
    /// Any API action: `call ListHosts PageSize=50` (prints the JSON answer).
    Call {
        /// The action name, as in the Bastionhost API reference or /openapi.json.
        action: String,
        /// Parameters as Name=Value.
        params: Vec<String>,
    },
}

/// `portunus admin user ...`
#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a local user.
    Create {
        /// Login name.
        name: String,
        /// Password for logins with the user's own credentials.
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        mobile: Option<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// List users.
    List {
        /// Only users whose name matches.
        #[arg(long)]
        name: Option<String>,
    },
    /// Lock users (id or name): they can no longer log in.
    Lock {
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Unlock users (id or name).
    Unlock {
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Add an SSH public key to a user (id or name).
    AddKey {
        user: String,
        /// The OpenSSH public key line (`ssh-ed25519 AAAA... comment`).
        #[arg(
            long,
            required_unless_present = "key_file",
            conflicts_with = "key_file"
        )]
        key: Option<String>,
        /// File holding the public key line (`~/.ssh/id_ed25519.pub`).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// A name for the key. Default: the key line's comment, else "key".
        #[arg(long)]
        name: Option<String>,
    },
    /// List a user's public keys.
    Keys { user: String },
    /// The user's TOTP authenticator (two-factor authentication at SSH logins).
    #[command(subcommand)]
    Totp(totp::TotpCmd),
}

/// `portunus admin host ...`
#[derive(Subcommand, Debug)]
pub enum HostCmd {
    /// Add a host.
    Create {
        /// Host name.
        name: String,
        /// Address the bastion connects to.
        #[arg(long)]
        address: String,
        /// Linux or Windows.
        #[arg(long, default_value = "Linux")]
        os: String,
        #[arg(long)]
        comment: Option<String>,
        /// Pin the host's SSH key from the start (`ssh-keygen -lf` of its host key:
        /// SHA256:...): no hosted credential is ever sent to a host with another key.
        /// Without it, the first login trusts the key it meets.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// List hosts.
    List {
        /// Only hosts whose name matches.
        #[arg(long)]
        name: Option<String>,
    },
    /// Add an account to a host (id or name) with a hosted password or private key.
    AddAccount {
        host: String,
        /// Account (login) name on the host.
        name: String,
        /// SSH or RDP.
        #[arg(long, default_value = "SSH")]
        protocol: String,
        #[arg(long, conflicts_with = "private_key_file")]
        password: Option<String>,
        /// File holding an unencrypted private key (OpenSSH or PEM).
        #[arg(long)]
        private_key_file: Option<PathBuf>,
        /// Limit the account to SFTP: no shell, exec or forwarding through the bastion.
        #[arg(long)]
        sftp_only: bool,
    },
    /// Limit a host account to SFTP, or lift the limit.
    SftpOnly {
        host: String,
        /// The account (id or name).
        account: String,
        /// true or false.
        #[arg(action = clap::ArgAction::Set)]
        on: bool,
    },
    /// List a host's accounts.
    Accounts { host: String },
    /// Show the SSH host key fingerprint the bastion trusts for a host; change or forget it
    /// (after a legitimate key change on the host: the next login then trusts the new key).
    Fingerprint {
        host: String,
        /// Trust this fingerprint (as `ssh-keygen -lf` prints it: SHA256:...).
        #[arg(long, conflicts_with = "forget")]
        set: Option<String>,
        /// Forget the trusted fingerprint.
        #[arg(long)]
        forget: bool,
    },
    /// Check a host's SSH accounts from the bastion as a login would: the host key against
    /// the pinned fingerprint (no credential goes to a host that does not match), then the
    /// hosted credential. Says why each failed; fails when any did.
    Verify {
        host: String,
        /// Only this account (id or name); default every SSH account of the host.
        #[arg(long)]
        account: Option<String>,
    },
}

/// `portunus admin database ...`
#[derive(Subcommand, Debug)]
pub enum DatabaseCmd {
    /// Add a database.
    Create {
        /// Database name.
        name: String,
        /// MySQL, PostgreSQL, SQLServer or Oracle.
        #[arg(long = "type")]
        engine: String,
        /// Address the bastion connects to.
        #[arg(long)]
        address: String,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        comment: Option<String>,
    },
    /// List databases.
    List,
    /// Add an account to a database (id or name).
    AddAccount {
        database: String,
        /// Account (login) name on the database.
        name: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// List a database's accounts.
    Accounts { database: String },
}

/// `portunus admin grant ...`
#[derive(Subcommand, Debug)]
pub enum GrantCmd {
    /// Authorize a user (id or name) on a host and some of its accounts (ids or names).
    Host {
        user: String,
        host: String,
        /// Host accounts (repeat or separate with commas). None: the host alone.
        #[arg(long = "account", value_delimiter = ',')]
        accounts: Vec<String>,
    },
    /// Authorize a user on a database and some of its accounts.
    Database {
        user: String,
        database: String,
        /// Database accounts (repeat or separate with commas). None: the database alone.
        #[arg(long = "account", value_delimiter = ',')]
        accounts: Vec<String>,
    },
    /// Revoke a user's access to a host (with --account: only those accounts).
    RevokeHost {
        user: String,
        host: String,
        #[arg(long = "account", value_delimiter = ',')]
        accounts: Vec<String>,
    },
    /// Revoke a user's access to a database (with --account: only those accounts).
    RevokeDatabase {
        user: String,
        database: String,
        #[arg(long = "account", value_delimiter = ',')]
        accounts: Vec<String>,
    },
    /// List the hosts and databases a user may reach, with the authorized accounts.
    List { user: String },
}

/// `portunus admin token ...`
#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Generate an O&M token for a host or database account; prints the token once.
    Generate {
        /// Host (id or name).
        #[arg(
            long,
            required_unless_present = "database",
            conflicts_with = "database"
        )]
        host: Option<String>,
        /// Database (id or name).
        #[arg(long)]
        database: Option<String>,
        /// The asset's account: a hosted account's id or name (another name is a custom
        /// account whose password the engineer types).
        #[arg(long)]
        account: String,
        /// The user the token is for (id or name). Default: the AccessKey's own user (the
        /// first administrator's key acts as `admin`; keys made with `cluster
        /// create-access-key` act as none and need it).
        #[arg(long)]
        user: Option<String>,
    },
    /// Renew a token (its validity restarts).
    Renew {
        /// The token id.
        token_id: u64,
    },
    /// List a user's tokens (never their text).
    List {
        /// The user (id or name).
        user: String,
    },
}

/// Run `portunus admin ...`.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let api = Api::connect(&args)?;
    let json = args.json;
    match args.command {
        AdminCommand::User(c) => user(&api, c, json).await,
        AdminCommand::Host(c) => host(&api, c, json).await,
        AdminCommand::Database(c) => database(&api, c, json).await,
        AdminCommand::Grant(c) => grant(&api, c, json).await,
        AdminCommand::Token(c) => token(&api, c, json).await,
        AdminCommand::Audit(c) => audit::audit(&api, c, json).await,
        AdminCommand::Session(c) => session::session(&api, c, json).await,
        AdminCommand::SqlRule(c) => sql_rule::sql_rule(&api, c, json).await,
        AdminCommand::Secrets(c) => secrets::secrets(&api, c, json).await,
        AdminCommand::Call { action, params } => {
            let mut pairs = Vec::new();
            for p in &params {
                let (k, v) = p
                    .split_once('=')
                    .with_context(|| format!("parameter '{p}': expected Name=Value"))?;
                pairs.push((k.to_string(), v.to_string()));
            }
            let body = api.call(&action, &pairs).await?;
            say!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
    }
}

/// The first administrator's credentials as the node writes them.
#[derive(serde::Deserialize)]
struct AdminFile {
    access_key_id: String,
    access_key_secret: String,
}

fn credentials(args: &AdminArgs) -> anyhow::Result<Credentials> {
    match (&args.access_key_id, &args.access_key_secret) {
        (Some(id), Some(secret)) => {
            return Ok(Credentials {
                access_key_id: id.clone(),
                access_key_secret: secret.clone(),
            })
        }
        (Some(_), None) => bail!("--access-key-id needs --access-key-secret"),
        (None, Some(_)) => bail!("--access-key-secret needs --access-key-id"),
        (None, None) => {}
    }
    let Some(dir) = &args.data_dir else {
        bail!(
            "no AccessKey: pass --access-key-id and --access-key-secret (or set \
             PORTUNUS_ACCESS_KEY_ID and PORTUNUS_ACCESS_KEY_SECRET), or --data-dir of a node to \
             use its first administrator's key"
        );
    };
    let path = dir.join("admin-credentials.toml");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (it exists on the node that created the cluster)",
            path.display()
        )
    })?;
    let file: AdminFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(Credentials {
        access_key_id: file.access_key_id,
        access_key_secret: file.access_key_secret,
    })
}

fn trust(args: &AdminArgs, endpoint: &Endpoint) -> anyhow::Result<Option<Trust>> {
    if !endpoint.tls {
        return Ok(None);
    }
    if args.insecure {
        return Ok(Some(Trust::Insecure));
    }
    if let Some(file) = &args.ca_file {
        return Ok(Some(Trust::from_pem_file(file)?));
    }
    if let Some(dir) = &args.data_dir {
        let cert = dir.join("api-tls-cert.pem");
        if cert.exists() {
            return Ok(Some(Trust::from_pem_file(&cert)?));
        }
    }
    bail!(
        "{} is https and no certificate is trusted: pass --ca-file with the node's \
         api-tls-cert.pem (or your CA's certificate), or --data-dir of the node, or --insecure \
         to accept any certificate",
        endpoint.url()
    )
}

/// A connected API client.
struct Api {
    client: Client,
    /// Whether the endpoint's certificate is checked (TLS errors then hint at trusting it).
    verifies_cert: bool,
}

impl Api {
    fn connect(args: &AdminArgs) -> anyhow::Result<Api> {
        let url = args.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        let endpoint = Endpoint::parse(url)?;
        let creds = credentials(args)?;
        let trust = trust(args, &endpoint)?;
        let verifies_cert = endpoint.tls && !args.insecure;
        Ok(Api {
            client: Client::new(endpoint, creds, trust)?,
            verifies_cert,
        })
    }

    /// One call; errors carry `Code: Message` and a hint for transport problems.
    async fn call(&self, action: &str, params: &[(String, String)]) -> anyhow::Result<Value> {
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.client
            .call(action, &pairs)
            .await
            .map_err(|e| self.explain(e))
    }

    fn explain(&self, e: ClientError) -> anyhow::Error {
        let url = self.client.endpoint().url();
        match e {
            ClientError::Api { ref code, .. } => {
                let hint = match code.as_str() {
                    "SignatureDoesNotMatch" => " (check the AccessKey id and secret)",
                    "InvalidTimeStamp.Expired" => " (check this machine's clock)",
                    _ => "",
                };
                anyhow::anyhow!("{e}{hint}")
            }
            ClientError::Tls(_) if self.verifies_cert => anyhow::anyhow!(
                "{e}\n  {url}: if the node's certificate is self-signed, trust it with --ca-file \
                 <node data dir>/api-tls-cert.pem (or --data-dir), or pass --insecure; if the \
                 node serves plain HTTP (--api-plaintext), use an http:// endpoint"
            ),
            ClientError::Tls(_) => anyhow::anyhow!(
                "{e}\n  {url}: if the node serves plain HTTP (--api-plaintext), use an http:// \
                 endpoint"
            ),
            ClientError::Connect(_) => {
                anyhow::anyhow!("{e}\n  is {url} a node's API address (--endpoint)?")
            }
            ClientError::Protocol(_) if self.client.endpoint().tls => e.into(),
            ClientError::Protocol(_) => {
                anyhow::anyhow!("{e}\n  {url}: if the node serves https, use an https:// endpoint")
            }
            other => other.into(),
        }
    }

    /// Every item of a paged list (`list` is the array's field).
    async fn all(
        &self,
        action: &str,
        list: &str,
        params: &[(String, String)],
    ) -> anyhow::Result<Vec<Value>> {
        Ok(self.all_noted(action, list, params).await?.0)
    }

    /// Every item of a paged list, and the `Note` the first page came with, if any.
    async fn all_noted(
        &self,
        action: &str,
        list: &str,
        params: &[(String, String)],
    ) -> anyhow::Result<(Vec<Value>, Option<String>)> {
        let mut items = Vec::new();
        let mut note = None;
        for number in 1.. {
            let mut p = params.to_vec();
            p.push(("PageNumber".into(), number.to_string()));
            p.push(("PageSize".into(), "100".into()));
            let body = self.call(action, &p).await?;
            if number == 1 {
                note = body["Note"].as_str().map(str::to_string);
            }
            let page = body[list].as_array().cloned().unwrap_or_default();
            let total = body["TotalCount"].as_u64().unwrap_or(0) as usize;
            let empty = page.is_empty();
            items.extend(page);
            if empty || items.len() >= total {
                break;
            }
        }
        Ok((items, note))
    }

    /// An entity's id from an id or a name: `list_action` filtered by `filter` (when the action
    /// has a name filter), then the exact `name_field`.
    async fn resolve(&self, what: &str, value: &str, lookup: Lookup<'_>) -> anyhow::Result<String> {
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(value.to_string());
        }
        let mut params: Vec<(String, String)> = lookup.scope.to_vec();
        if let Some(f) = lookup.filter {
            params.push((f.into(), value.into()));
        }
        let items = self.all(lookup.action, lookup.list, &params).await?;
        let ids: Vec<String> = items
            .iter()
            .filter(|i| i[lookup.name_field].as_str() == Some(value))
            .filter_map(|i| i[lookup.id_field].as_str().map(str::to_string))
            .collect();
        match ids.as_slice() {
            [id] => Ok(id.clone()),
            [] => bail!("no {what} named '{value}'"),
            _ => bail!("several {what}s are named '{value}': give the id"),
        }
    }

    async fn user_id(&self, v: &str) -> anyhow::Result<String> {
        let lookup = Lookup {
            action: "ListUsers",
            list: "Users",
            filter: Some("UserName"),
            name_field: "UserName",
            id_field: "UserId",
            scope: &[],
        };
        self.resolve("user", v, lookup).await
    }

    async fn host_id(&self, v: &str) -> anyhow::Result<String> {
        let lookup = Lookup {
            action: "ListHosts",
            list: "Hosts",
            filter: Some("HostName"),
            name_field: "HostName",
            id_field: "HostId",
            scope: &[],
        };
        self.resolve("host", v, lookup).await
    }

    async fn database_id(&self, v: &str) -> anyhow::Result<String> {
        let lookup = Lookup {
            action: "ListDatabases",
            list: "Databases",
            filter: None,
            name_field: "DatabaseName",
            id_field: "DatabaseId",
            scope: &[],
        };
        self.resolve("database", v, lookup).await
    }

    async fn host_account_ids(&self, host: &str, names: &[String]) -> anyhow::Result<Vec<String>> {
        let scope = [("HostId".to_string(), host.to_string())];
        let mut out = Vec::new();
        for n in names {
            let lookup = Lookup {
                action: "ListHostAccounts",
                list: "HostAccounts",
                filter: Some("HostAccountName"),
                name_field: "HostAccountName",
                id_field: "HostAccountId",
                scope: &scope,
            };
            out.push(self.resolve("host account", n, lookup).await?);
        }
        Ok(out)
    }

    async fn database_account_ids(
        &self,
        db: &str,
        names: &[String],
    ) -> anyhow::Result<Vec<String>> {
        let scope = [("DatabaseId".to_string(), db.to_string())];
        let mut out = Vec::new();
        for n in names {
            let lookup = Lookup {
                action: "ListDatabaseAccounts",
                list: "DatabaseAccounts",
                filter: Some("DatabaseAccountName"),
                name_field: "DatabaseAccountName",
                id_field: "DatabaseAccountId",
                scope: &scope,
            };
            out.push(self.resolve("database account", n, lookup).await?);
        }
        Ok(out)
    }
}

/// How to find an entity by name.
struct Lookup<'a> {
    action: &'static str,
    list: &'static str,
    filter: Option<&'static str>,
    name_field: &'static str,
    id_field: &'static str,
    scope: &'a [(String, String)],
}

/// Parameters from `(name, Option<value>)`, leaving out the absent ones.
fn params(pairs: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
        .collect()
}

/// Prints the API's JSON.
fn print_json(v: &Value) -> anyhow::Result<()> {
    say!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A value as table text (arrays joined with commas).
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Prints `items` as a table of `columns` (heading, field).
fn table(items: &[Value], columns: &[(&str, &str)]) {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| columns.iter().map(|(_, f)| cell(&i[*f])).collect())
        .collect();
    print_rows(columns.iter().map(|(h, _)| h.to_string()).collect(), rows);
}

fn print_rows(head: Vec<String>, rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        say!("{}", text.join("  ").trim_end());
    };
    line(&head);
    for r in &rows {
        line(r);
    }
}

/// Prints a list, as JSON or as a table.
fn show_list(items: Vec<Value>, columns: &[(&str, &str)], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&Value::Array(items));
    }
    table(&items, columns);
    Ok(())
}

/// Prints a creation's id (`field` of the answer).
fn show_created(body: &Value, what: &str, field: &str, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(body);
    }
    say!("created {what} {}", cell(&body[field]));
    Ok(())
}

/// Prints a batch's `Results` and fails if any entry failed.
fn show_results(body: &Value, id_field: &str, json: bool) -> anyhow::Result<()> {
    let results = body["Results"].as_array().cloned().unwrap_or_default();
    if json {
        print_json(body)?;
    } else {
        table(
            &results,
            &[("ID", id_field), ("RESULT", "Code"), ("MESSAGE", "Message")],
        );
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r["Code"] != "OK")
        .map(|r| format!("{}: {}", cell(&r["Code"]), cell(&r["Message"])))
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} failed: {}",
            failed.len(),
            results.len(),
            failed.join("; ")
        );
    }
    Ok(())
}

/// A JSON array of ids as the API's list parameters take it (`["1","2"]`).
fn id_list(ids: &[String]) -> String {
    Value::from(ids.to_vec()).to_string()
}

async fn user(api: &Api, cmd: UserCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Create {
            name,
            password,
            display_name,
            email,
            mobile,
            comment,
        } => {
            let p = params(&[
                ("UserName", Some(&name)),
                ("Source", Some("Local")),
                ("Password", password.as_deref()),
                ("DisplayName", display_name.as_deref()),
                ("Email", email.as_deref()),
                ("Mobile", mobile.as_deref()),
                ("Comment", comment.as_deref()),
            ]);
            let body = api.call("CreateUser", &p).await?;
            show_created(&body, "user", "UserId", json)
        }
        UserCmd::List { name } => {
            let items = api
                .all(
                    "ListUsers",
                    "Users",
                    &params(&[("UserName", name.as_deref())]),
                )
                .await?;
            let cols = [
                ("ID", "UserId"),
                ("NAME", "UserName"),
                ("DISPLAY NAME", "DisplayName"),
                ("STATE", "UserState"),
                ("SOURCE", "Source"),
                ("EMAIL", "Email"),
            ];
            show_list(items, &cols, json)
        }
        UserCmd::Totp(cmd) => totp::totp(api, cmd, json).await,
        UserCmd::Lock { users } => lock(api, &users, "LockUsers", json).await,
        UserCmd::Unlock { users } => lock(api, &users, "UnlockUsers", json).await,
        UserCmd::AddKey {
            user,
            key,
            key_file,
            name,
        } => {
            let key = match (key, key_file) {
                (Some(k), _) => k,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?
                    .trim()
                    .to_string(),
                (None, None) => bail!("give --key or --key-file"),
            };
            let name =
                name.unwrap_or_else(|| key.split_whitespace().nth(2).unwrap_or("key").to_string());
            let id = api.user_id(&user).await?;
            let p = params(&[
                ("UserId", Some(&id)),
                ("PublicKey", Some(&key)),
                ("PublicKeyName", Some(&name)),
            ]);
            let body = api.call("CreateUserPublicKey", &p).await?;
            show_created(&body, "public key", "PublicKeyId", json)
        }
        UserCmd::Keys { user } => {
            let id = api.user_id(&user).await?;
            let items = api
                .all(
                    "ListUserPublicKeys",
                    "PublicKeys",
                    &params(&[("UserId", Some(&id))]),
                )
                .await?;
            let cols = [
                ("ID", "PublicKeyId"),
                ("NAME", "PublicKeyName"),
                ("FINGERPRINT", "FingerPrint"),
                ("COMMENT", "Comment"),
            ];
            show_list(items, &cols, json)
        }
    }
}

async fn lock(api: &Api, users: &[String], action: &str, json: bool) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    for u in users {
        ids.push(api.user_id(u).await?);
    }
    let body = api
        .call(action, &params(&[("UserIds", Some(&id_list(&ids)))]))
        .await?;
    show_results(&body, "UserId", json)
}

async fn host(api: &Api, cmd: HostCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        HostCmd::Create {
            name,
            address,
            os,
            comment,
            fingerprint,
        } => {
            let p = params(&[
                ("HostName", Some(&name)),
                ("Source", Some("Local")),
                ("OSType", Some(&os)),
                ("ActiveAddressType", Some("Private")),
                ("HostPrivateAddress", Some(&address)),
                ("Comment", comment.as_deref()),
                ("HostFingerPrint", fingerprint.as_deref()),
            ]);
            let body = api.call("CreateHost", &p).await?;
            show_created(&body, "host", "HostId", json)
        }
        HostCmd::List { name } => {
            let items = api
                .all(
                    "ListHosts",
                    "Hosts",
                    &params(&[("HostName", name.as_deref())]),
                )
                .await?;
            let cols = [
                ("ID", "HostId"),
                ("NAME", "HostName"),
                ("ADDRESS", "HostPrivateAddress"),
                ("OS", "OSType"),
                ("ACCOUNTS", "HostAccountCount"),
                ("COMMENT", "Comment"),
            ];
            show_list(items, &cols, json)
        }
        HostCmd::AddAccount {
            host,
            name,
            protocol,
            password,
            private_key_file,
            sftp_only,
        } => {
            let id = api.host_id(&host).await?;
            let key = match private_key_file {
                Some(f) => Some(
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("reading {}", f.display()))?,
                ),
                None => None,
            };
            let p = params(&[
                ("HostId", Some(&id)),
                ("HostAccountName", Some(&name)),
                ("ProtocolName", Some(&protocol)),
                ("Password", password.as_deref()),
                ("PrivateKey", key.as_deref()),
                ("SftpOnly", sftp_only.then_some("true")),
            ]);
            let body = api.call("CreateHostAccount", &p).await?;
            show_created(&body, "host account", "HostAccountId", json)
        }
        HostCmd::SftpOnly { host, account, on } => {
            let host_id = api.host_id(&host).await?;
            let p = params(&[("HostId", Some(&host_id)), ("ProtocolName", Some("SSH"))]);
            let accounts = api.all("ListHostAccounts", "HostAccounts", &p).await?;
            let Some(id) = accounts
                .iter()
                .find(|a| {
                    a["HostAccountName"] == account.as_str()
                        || a["HostAccountId"] == account.as_str()
                })
                .and_then(|a| a["HostAccountId"].as_str())
                .map(str::to_string)
            else {
                bail!("host {host} has no SSH account '{account}'");
            };
            let on = if on { "true" } else { "false" };
            let p = params(&[("HostAccountId", Some(&id)), ("SftpOnly", Some(on))]);
            api.call("ModifyHostAccount", &p).await?;
            let limit = if on == "true" {
                "limited to SFTP"
            } else {
                "no longer limited to SFTP"
            };
            say!("{account}@{host} is {limit}");
            Ok(())
        }
        HostCmd::Fingerprint { host, set, forget } => {
            let id = api.host_id(&host).await?;
            if set.is_some() || forget {
                let p = params(&[("HostId", Some(&id)), ("HostFingerPrint", set.as_deref())]);
                api.call("ModifyHostFingerPrint", &p).await?;
            }
            let body = api
                .call("GetHost", &params(&[("HostId", Some(&id))]))
                .await?;
            let fp = body["Host"]["Protocols"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["ProtocolName"] == "SSH")
                .and_then(|p| p["HostFingerPrint"].as_str())
                .unwrap_or_default()
                .to_string();
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "HostId": id, "HostFingerPrint": fp })
                );
            } else if fp.is_empty() {
                println!(
                    "host {id}: no trusted fingerprint (the next login trusts the key it meets, \
                     unless the cluster requires pinned host keys)"
                );
            } else {
                println!("host {id}: {fp}");
            }
            Ok(())
        }
        HostCmd::Verify { host, account } => {
            host_verify::verify(api, &host, account.as_deref(), json).await
        }
        HostCmd::Accounts { host } => {
            let id = api.host_id(&host).await?;
            let items = api
                .all(
                    "ListHostAccounts",
                    "HostAccounts",
                    &params(&[("HostId", Some(&id))]),
                )
                .await?;
            let cols = [
                ("ID", "HostAccountId"),
                ("NAME", "HostAccountName"),
                ("PROTOCOL", "ProtocolName"),
                ("PASSWORD", "HasPassword"),
                ("HOST", "HostId"),
            ];
            show_list(items, &cols, json)
        }
    }
}

async fn database(api: &Api, cmd: DatabaseCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        DatabaseCmd::Create {
            name,
            engine,
            address,
            port,
            comment,
        } => {
            let port = port.to_string();
            let p = params(&[
                ("DatabaseName", Some(&name)),
                ("DatabaseType", Some(&engine)),
                ("Source", Some("Local")),
                ("DatabasePort", Some(&port)),
                ("ActiveAddressType", Some("Private")),
                ("DatabasePrivateAddress", Some(&address)),
                ("Comment", comment.as_deref()),
            ]);
            let body = api.call("CreateDatabase", &p).await?;
            show_created(&body, "database", "DatabaseId", json)
        }
        DatabaseCmd::List => {
            let items = api.all("ListDatabases", "Databases", &[]).await?;
            let cols = [
                ("ID", "DatabaseId"),
                ("NAME", "DatabaseName"),
                ("TYPE", "DatabaseType"),
                ("ADDRESS", "DatabasePrivateAddress"),
                ("PORT", "DatabasePort"),
                ("COMMENT", "Comment"),
            ];
            show_list(items, &cols, json)
        }
        DatabaseCmd::AddAccount {
            database,
            name,
            password,
        } => {
            let id = api.database_id(&database).await?;
            let p = params(&[
                ("DatabaseId", Some(&id)),
                ("DatabaseAccountName", Some(&name)),
                ("Password", password.as_deref()),
            ]);
            let body = api.call("CreateDatabaseAccount", &p).await?;
            show_created(&body, "database account", "DatabaseAccountId", json)
        }
        DatabaseCmd::Accounts { database } => {
            let id = api.database_id(&database).await?;
            let items = api
                .all(
                    "ListDatabaseAccounts",
                    "DatabaseAccounts",
                    &params(&[("DatabaseId", Some(&id))]),
                )
                .await?;
            let cols = [
                ("ID", "DatabaseAccountId"),
                ("NAME", "DatabaseAccountName"),
                ("PASSWORD", "HasPassword"),
                ("DATABASE", "DatabaseId"),
            ];
            show_list(items, &cols, json)
        }
    }
}

async fn grant(api: &Api, cmd: GrantCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        GrantCmd::Host {
            user,
            host,
            accounts,
        } => {
            host_grant(
                api,
                &user,
                &host,
                &accounts,
                "AttachHostAccountsToUser",
                json,
            )
            .await
        }
        GrantCmd::RevokeHost {
            user,
            host,
            accounts,
        } => {
            let action = "DetachHostAccountsFromUser";
            host_grant(api, &user, &host, &accounts, action, json).await
        }
        GrantCmd::Database {
            user,
            database,
            accounts,
        } => {
            let action = "AttachDatabaseAccountsToUser";
            db_grant(api, &user, &database, &accounts, action, json).await
        }
        GrantCmd::RevokeDatabase {
            user,
            database,
            accounts,
        } => {
            let action = "DetachDatabaseAccountsFromUser";
            db_grant(api, &user, &database, &accounts, action, json).await
        }
        GrantCmd::List { user } => grant_list(api, &user, json).await,
    }
}

async fn host_grant(
    api: &Api,
    user: &str,
    host: &str,
    accounts: &[String],
    action: &str,
    json: bool,
) -> anyhow::Result<()> {
    let user = api.user_id(user).await?;
    let host = api.host_id(host).await?;
    let accounts = api.host_account_ids(&host, accounts).await?;
    let hosts = json!([{ "HostId": host, "HostAccountIds": accounts }]).to_string();
    let p = params(&[("UserId", Some(&user)), ("Hosts", Some(&hosts))]);
    let body = api.call(action, &p).await?;
    show_results(&body, "HostId", json)
}

async fn db_grant(
    api: &Api,
    user: &str,
    database: &str,
    accounts: &[String],
    action: &str,
    json: bool,
) -> anyhow::Result<()> {
    let user = api.user_id(user).await?;
    let db = api.database_id(database).await?;
    let accounts = api.database_account_ids(&db, accounts).await?;
    let mut p = vec![
        ("UserId".to_string(), user),
        ("Databases.1.DatabaseId".to_string(), db),
    ];
    for (i, a) in accounts.iter().enumerate() {
        p.push((
            format!("Databases.1.DatabaseAccountIds.{}", i + 1),
            a.clone(),
        ));
    }
    let body = api.call(action, &p).await?;
    show_results(&body, "DatabaseId", json)
}

async fn grant_list(api: &Api, user: &str, json: bool) -> anyhow::Result<()> {
    let user = api.user_id(user).await?;
    let who = [("UserId".to_string(), user.clone())];
    let mut out = Vec::new();
    for host in api.all("ListHostsForUser", "Hosts", &who).await? {
        let id = cell(&host["HostId"]);
        let mut p = who.to_vec();
        p.push(("HostId".into(), id.clone()));
        let accounts = api
            .all("ListHostAccountsForUser", "HostAccounts", &p)
            .await?;
        let granted: Vec<Value> = accounts
            .into_iter()
            .filter(|a| a["IsAuthorized"] == true)
            .collect();
        out.push(json!({
            "AssetType": "Host", "AssetId": id, "AssetName": host["HostName"],
            "Address": host["HostPrivateAddress"],
            "Accounts": granted.iter().map(|a| a["HostAccountName"].clone()).collect::<Vec<_>>(),
            "AccountIds": granted.iter().map(|a| a["HostAccountId"].clone()).collect::<Vec<_>>(),
        }));
    }
    for db in api.all("ListDatabasesForUser", "Databases", &who).await? {
        let id = cell(&db["DatabaseId"]);
        let mut p = who.to_vec();
        p.push(("DatabaseId".into(), id.clone()));
        let accounts = api
            .all("ListDatabaseAccountsForUser", "DatabaseAccounts", &p)
            .await?;
        let granted: Vec<Value> = accounts
            .into_iter()
            .filter(|a| a["IsAuthorized"] == true)
            .collect();
        out.push(json!({
            "AssetType": "Database", "AssetId": id, "AssetName": db["DatabaseName"],
            "Address": db["DatabasePrivateAddress"],
            "Accounts": granted.iter().map(|a| a["DatabaseAccountName"].clone()).collect::<Vec<_>>(),
            "AccountIds": granted.iter().map(|a| a["DatabaseAccountId"].clone()).collect::<Vec<_>>(),
        }));
    }
    let cols = [
        ("TYPE", "AssetType"),
        ("ID", "AssetId"),
        ("NAME", "AssetName"),
        ("ADDRESS", "Address"),
        ("ACCOUNTS", "Accounts"),
    ];
    show_list(out, &cols, json)
}

async fn token(api: &Api, cmd: TokenCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Generate {
            host,
            database,
            account,
            user,
        } => {
            let (kind, asset) = match (host, database) {
                (Some(h), _) => ("Host", api.host_id(&h).await?),
                (None, Some(d)) => ("Database", api.database_id(&d).await?),
                (None, None) => bail!("give --host or --database"),
            };
            let user = match user {
                Some(u) => Some(api.user_id(&u).await?),
                None => None,
            };
            let numeric = account.bytes().all(|b| b.is_ascii_digit());
            let p = params(&[
                ("AssetType", Some(kind)),
                ("AssetId", Some(&asset)),
                ("AssetAccountId", numeric.then_some(account.as_str())),
                ("AssetAccountName", (!numeric).then_some(account.as_str())),
                ("UserId", user.as_deref()),
            ]);
            let body = api.call("GenerateAssetOperationToken", &p).await?;
            if json {
                return print_json(&body);
            }
            let t = &body["AssetOperationToken"];
            let expire = t["ExpireTime"].as_u64().unwrap_or(0) * 1000;
            say!("token id:   {}", cell(&t["TokenId"]));
            say!("token:      {}", cell(&t["Token"]));
            say!("expires:    {}", portunus_ops::client::utc_text(expire));
            say!("uses left:  {}", uses_left(t));
            Ok(())
        }
        TokenCmd::Renew { token_id } => {
            let id = token_id.to_string();
            let body = api
                .call(
                    "RenewAssetOperationToken",
                    &params(&[("TokenId", Some(&id))]),
                )
                .await?;
            if json {
                return print_json(&body);
            }
            say!("token {token_id} renewed");
            Ok(())
        }
        TokenCmd::List { user } => {
            let id = api.user_id(&user).await?;
            let mut items = api
                .all(
                    "ListAssetOperationTokens",
                    "Tokens",
                    &params(&[("UserId", Some(&id))]),
                )
                .await?;
            if !json {
                for t in &mut items {
                    let expire = t["ExpireTime"].as_u64().unwrap_or(0) * 1000;
                    t["Expires"] = portunus_ops::client::utc_text(expire).into();
                    t["UsesLeft"] = uses_left(t).into();
                }
            }
            let cols = [
                ("ID", "TokenId"),
                ("TYPE", "AssetType"),
                ("ASSET", "AssetName"),
                ("ACCOUNT", "AssetAccountName"),
                ("PROTOCOL", "ProtocolName"),
                ("EXPIRES", "Expires"),
                ("USES LEFT", "UsesLeft"),
                ("STATE", "State"),
            ];
            show_list(items, &cols, json)
        }
    }
}

fn uses_left(t: &Value) -> String {
    if t["HasCountLimit"] == true {
        cell(&t["CountLeft"])
    } else {
        "unlimited".into()
    }
}
