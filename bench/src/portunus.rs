//! Real `portunus` processes for the benchmarks (through `portunus_tests::ProcCluster`), with a
//! bootstrap Admin AccessKey, and the API calls that make a user, a database target and a token.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use portunus_tests::{wait_until, ProcCluster};

use crate::api::Api;

const START: Duration = Duration::from_secs(60);
const CALL: Duration = Duration::from_secs(10);

/// A running cluster of `portunus` processes and an Admin API client.
pub(crate) struct Cluster {
    pub(crate) procs: ProcCluster,
    pub(crate) api: Api,
    pub(crate) leader: u64,
    next: u64,
}

/// The password of every user the bench creates (argon2id-hashed by the node).
pub(crate) const USER_PASSWORD: &str = "Passw0rd!bench";

/// A user and an O&M token (unlimited uses) for a database target at `127.0.0.1:port`.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) user: String,
    /// The user's id, as the API names it.
    pub(crate) user_id: String,
    pub(crate) token: String,
}

/// A database target on loopback and its hosted account.
#[derive(Debug, Clone)]
pub(crate) struct DbAsset<'a> {
    /// `DatabaseType`: MySQL, PostgreSQL, SQLServer...
    pub(crate) engine: &'a str,
    pub(crate) port: u16,
    pub(crate) account: &'a str,
    pub(crate) password: &'a str,
    /// The token's `DatabaseSchema` (the default database).
    pub(crate) schema: Option<&'a str>,
}

/// `$PORTUNUS_BIN`, else `portunus` beside this executable.
fn set_binary() {
    if std::env::var_os("PORTUNUS_BIN").is_none() {
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Into::into))
        {
            let dir: std::path::PathBuf = dir;
            std::env::set_var("PORTUNUS_BIN", dir.join("portunus"));
        }
    }
}

/// The value parser of a bench's `--node-env NAME=VALUE`: a setting of the nodes to try.
pub fn name_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, v)) if !n.is_empty() => Ok((n.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

/// `--node-env` pairs as [`Cluster::start_with_env`] takes them.
pub(crate) fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// What a bench's description says of its `--node-env` pairs (nothing when there are none).
pub(crate) fn env_note(env: &[(String, String)]) -> String {
    if env.is_empty() {
        return String::new();
    }
    let set: Vec<String> = env.iter().map(|(n, v)| format!("`{n}={v}`")).collect();
    format!(" The Portunus nodes ran with {}.", set.join(", "))
}

impl Cluster {
    /// Starts `n` nodes (one is a single-node cluster) and waits for a leader and the admin.
    pub(crate) async fn start(n: u64) -> anyhow::Result<Self> {
        Self::start_shaped(n, false, &[]).await
    }

    /// Like [`Cluster::start`], with more environment for the nodes (their settings).
    pub(crate) async fn start_with_env(n: u64, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_shaped(n, false, env).await
    }

    /// Two engines (nodes 1 and 2) and a witness (node 3): the engines start first, so that one
    /// of them leads, as in a real two-engine deployment.
    pub(crate) async fn start_with_witness() -> anyhow::Result<Self> {
        Self::start_shaped(3, true, &[]).await
    }

    /// `n` nodes started, and one more (id `n + 1`) laid out but not started, to join later.
    pub(crate) async fn start_with_spare(n: u64) -> anyhow::Result<Self> {
        Self::start_laid_out(n, 1, false, &[]).await
    }

    async fn start_shaped(n: u64, witness: bool, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_laid_out(n, 0, witness, env).await
    }

    async fn start_laid_out(
        n: u64,
        spare: u64,
        witness: bool,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        set_binary();
        let mut procs = ProcCluster::new(n + spare)?;
        if spare > 0 {
            procs.initial_voters(&(1..=n).collect::<Vec<_>>());
        }
        let api = Api {
            key_id: "PTNbenchadminkey".into(),
            secret: "bench-admin-secret-0123456789".into(),
        };
        procs.env = vec![
            (
                "PORTUNUS_BOOTSTRAP_ACCESS_KEY_ID".into(),
                api.key_id.clone(),
            ),
            (
                "PORTUNUS_BOOTSTRAP_ACCESS_KEY_SECRET".into(),
                api.secret.clone(),
            ),
            // Warnings only, and the snapshot lines `large-state` reads (a few per run).
            (
                "PORTUNUS_LOG".into(),
                "warn,portunus_raft::store::sm=info".into(),
            ),
        ];
        procs
            .env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        if witness {
            procs.spawn(1, &[])?;
            procs.spawn(2, &[])?;
        } else {
            for id in 1..=n {
                procs.spawn(id, &[])?;
            }
        }
        let (leader, procs) = tokio::task::spawn_blocking(move || {
            let mut leader = procs.wait_stable(START)?;
            if witness {
                procs.spawn(3, &["--witness"])?;
                leader = procs.wait_stable(START)?;
            }
            let nodes = &procs.nodes;
            wait_until("the first administrator", START, || {
                nodes
                    .iter()
                    .any(|n| n.output().contains("administrator created"))
            })?;
            anyhow::Ok((leader, procs))
        })
        .await??;
        let cluster = Self {
            procs,
            api,
            leader,
            next: 0,
        };
        cluster.wait_api().await?;
        Ok(cluster)
    }

    /// Waits until the bootstrap key is accepted by every node.
    async fn wait_api(&self) -> anyhow::Result<()> {
        for node in self.api_addrs() {
            let deadline = tokio::time::Instant::now() + START;
            loop {
                let r = self.api.call(node, "ListUsers", &[], CALL).await;
                match r {
                    Ok(_) => break,
                    Err(e) if tokio::time::Instant::now() > deadline => {
                        return Err(e.context("API never accepted the bootstrap key"))
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        Ok(())
    }

    /// The engines' API addresses (a witness serves no API).
    pub(crate) fn api_addrs(&self) -> Vec<SocketAddr> {
        self.engines().map(|n| n.api).collect()
    }

    /// The API address of engine `node` (index, wrapping around the running engines: a witness
    /// or a node laid out but not started serves no API).
    fn api_addr(&self, node: usize) -> anyhow::Result<SocketAddr> {
        let addrs = self.api_addrs();
        anyhow::ensure!(!addrs.is_empty(), "no engine is running to serve the API");
        Ok(addrs[node % addrs.len()])
    }

    /// Where the engines serve `/metrics` (`--metrics-listen`).
    pub(crate) fn metrics_addrs(&self) -> Vec<SocketAddr> {
        self.engines().map(|n| n.metrics).collect()
    }

    /// The engines' SSH addresses.
    pub(crate) fn ssh_addrs(&self) -> Vec<SocketAddr> {
        self.engines().map(|n| n.ssh).collect()
    }

    /// The nodes that are not witnesses and have been spawned at least once (a spare laid out
    /// to join later is left out until then; a killed node keeps its place).
    fn engines(&self) -> impl Iterator<Item = &portunus_tests::NodeProc> {
        self.procs
            .nodes
            .iter()
            .filter(|n| !n.witness && n.spawned())
    }

    /// The pid of node `id` (found by its data directory in /proc/*/cmdline).
    pub(crate) fn pid(&self, id: u64) -> anyhow::Result<u32> {
        let dir = self.procs.nodes[id as usize - 1]
            .data_dir
            .to_string_lossy()
            .to_string();
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            let is_node = args.contains(&dir.as_bytes())
                && args.first().is_some_and(|a| a.ends_with(b"portunus"));
            if is_node {
                return Ok(pid);
            }
        }
        anyhow::bail!("no process for node {id}")
    }

    async fn call(
        &self,
        action: &str,
        params: &[(&str, String)],
    ) -> anyhow::Result<serde_json::Value> {
        let node = self.api_addrs()[0];
        self.api.call(node, action, params, CALL).await
    }

    fn id(v: &serde_json::Value, field: &str) -> anyhow::Result<String> {
        v[field]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {field} in {v}"))
    }

    /// A new user authorized for a new SQL Server database (relayed as plain bytes) at `127.0.0.1:port`, and an O&M token
    /// with no use limit (UseCount absent: the cluster default) for it.
    pub(crate) async fn db_token(&mut self, port: u16) -> anyhow::Result<Token> {
        let asset = DbAsset {
            engine: "SQLServer",
            port,
            account: "app",
            password: "pw",
            schema: None,
        };
        self.database_token(&asset).await
    }

    /// A new user authorized for a new database `asset` whose account's password is hosted,
    /// and an O&M token with no use limit for it (for MySQL, usable on the native port too).
    pub(crate) async fn database_token(&mut self, asset: &DbAsset<'_>) -> anyhow::Result<Token> {
        self.next += 1;
        let sfx = format!("{}-{}", asset.port, self.next);
        let db = self
            .call(
                "CreateDatabase",
                &[
                    ("DatabaseName", format!("target-{sfx}")),
                    ("DatabaseType", asset.engine.into()),
                    ("Source", "Local".into()),
                    ("DatabasePort", asset.port.to_string()),
                    ("ActiveAddressType", "Private".into()),
                    ("DatabasePrivateAddress", "127.0.0.1".into()),
                ],
            )
            .await?;
        let db = Self::id(&db, "DatabaseId")?;
        let account = self
            .call(
                "CreateDatabaseAccount",
                &[
                    ("DatabaseId", db.clone()),
                    ("DatabaseAccountName", asset.account.into()),
                    ("Password", asset.password.into()),
                ],
            )
            .await?;
        let account = Self::id(&account, "DatabaseAccountId")?;
        let user_name = format!("bench-{sfx}");
        let user = self.user(&user_name).await?;
        self.call(
            "AttachDatabaseAccountsToUser",
            &[
                ("UserId", user.clone()),
                ("Databases.1.DatabaseId", db.clone()),
                ("Databases.1.DatabaseAccountIds.1", account.clone()),
            ],
        )
        .await?;
        let mut params = vec![
            ("AssetType", "Database".to_owned()),
            ("AssetId", db),
            ("AssetAccountId", account),
            ("UserId", user.clone()),
        ];
        if let Some(schema) = asset.schema {
            params.push(("DatabaseSchema", schema.to_owned()));
        }
        let tok = self
            .api
            .call(
                self.api_addrs()[0],
                "GenerateAssetOperationToken",
                &params,
                CALL,
            )
            .await?;
        let token = Self::id(&tok["AssetOperationToken"], "Token")?;
        Ok(Token {
            user: user_name,
            user_id: user,
            token,
        })
    }

    /// A new user authorized for a new host reached over SSH at `127.0.0.1:port` with a hosted
    /// password account, and an O&M token with no use limit for it.
    pub(crate) async fn host_token(
        &mut self,
        port: u16,
        account_name: &str,
        password: &str,
    ) -> anyhow::Result<Token> {
        self.next += 1;
        let sfx = format!("h{}-{}", port, self.next);
        let host = self
            .call(
                "CreateHost",
                &[
                    ("HostName", format!("host-{sfx}")),
                    ("Source", "Local".into()),
                    ("OSType", "Linux".into()),
                    ("ActiveAddressType", "Private".into()),
                    ("HostPrivateAddress", "127.0.0.1".into()),
                ],
            )
            .await?;
        let host = Self::id(&host, "HostId")?;
        self.call(
            "ModifyHostsPort",
            &[
                ("HostIds", format!("[\"{host}\"]")),
                ("ProtocolName", "SSH".into()),
                ("Port", port.to_string()),
            ],
        )
        .await?;
        let account = self
            .call(
                "CreateHostAccount",
                &[
                    ("HostId", host.clone()),
                    ("HostAccountName", account_name.into()),
                    ("ProtocolName", "SSH".into()),
                    ("Password", password.into()),
                ],
            )
            .await?;
        let account = Self::id(&account, "HostAccountId")?;
        let user_name = format!("bench-{sfx}");
        let user = self.user(&user_name).await?;
        let hosts = format!("[{{\"HostId\":\"{host}\",\"HostAccountIds\":[\"{account}\"]}}]");
        self.call(
            "AttachHostAccountsToUser",
            &[("UserId", user.clone()), ("Hosts", hosts)],
        )
        .await?;
        let token = self.issue("Host", &user, &host, &account, 0).await?;
        Ok(Token {
            user: user_name,
            user_id: user,
            token,
        })
    }

    /// Adds the OpenSSH public key `public_key` (one `authorized_keys` line) to user `user_id`.
    pub(crate) async fn add_public_key(
        &self,
        user_id: &str,
        public_key: &str,
    ) -> anyhow::Result<()> {
        self.call(
            "CreateUserPublicKey",
            &[
                ("UserId", user_id.to_owned()),
                ("PublicKey", public_key.trim().to_owned()),
                ("PublicKeyName", "bench".into()),
            ],
        )
        .await
        .map(|_| ())
    }

    pub(crate) async fn user(&self, name: &str) -> anyhow::Result<String> {
        let user = self
            .call(
                "CreateUser",
                &[
                    ("UserName", name.to_owned()),
                    ("Source", "Local".into()),
                    ("Password", USER_PASSWORD.into()),
                ],
            )
            .await?;
        Self::id(&user, "UserId")
    }

    /// How many times the token of `user_id` was spent, as node `node` (index) reads it.
    pub(crate) async fn token_uses(&self, user_id: &str, node: usize) -> anyhow::Result<u64> {
        let addr = self.api_addr(node)?;
        let params = [("UserId", user_id.to_owned())];
        let list = self
            .api
            .call(addr, "ListAssetOperationTokens", &params, CALL)
            .await?;
        list["Tokens"]
            .as_array()
            .and_then(|t| t.iter().map(|t| t["Uses"].as_u64()).sum::<Option<u64>>())
            .with_context(|| format!("no token uses in {list}"))
    }

    /// One GenerateAssetOperationToken call through node `node` (index); returns the token.
    pub(crate) async fn issue(
        &self,
        asset_type: &str,
        user: &str,
        db: &str,
        account: &str,
        node: usize,
    ) -> anyhow::Result<String> {
        let addr = self.api_addr(node)?;
        let params = [
            ("AssetType", asset_type.to_owned()),
            ("AssetId", db.to_owned()),
            ("AssetAccountId", account.to_owned()),
            ("UserId", user.to_owned()),
        ];
        let tok = self
            .api
            .call(addr, "GenerateAssetOperationToken", &params, CALL)
            .await?;
        Self::id(&tok["AssetOperationToken"], "Token")
    }
}
