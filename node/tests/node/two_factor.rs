//! Two-factor authentication at the SSH gateway, against a real in-process node and the
//! OpenSSH client answering the keyboard-interactive "Verification code:" prompt through
//! SSH_ASKPASS (a script that answers the password, or the code the test computed from the
//! enrolled secret): password and key logins need a code once TOTP applies to the user; wrong
//! codes, codes outside one step of skew and used codes are refused; a recovery code works
//! once; wrong codes lock codes; O&M tokens ask for none; a client that cannot show the prompt
//! is told why.

use portunus_model::{
    AssetRef, ClusterSettings, Command, DbEngine, NewDatabase, NewDatabaseAccount, NewToken,
    NewUser, Principal, Protocol, Response, TokenAccount, TwoFactorSettings,
};
use portunus_node::testing::{created, node_config};
use portunus_node::RunningNode;
use portunus_ops::totp;
use portunus_proxy::testing::openssh::{free_port, keygen, wait_listening};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command as Process;

const PASSWORD: &str = "alice-Corr3ct-Horse";
const SECRET: &[u8] = b"two-factor test secret";
const RECOVERY: &str = "abcde-fghij";

async fn one_node(dir: &Path) -> RunningNode {
    let peers: BTreeMap<u64, String> = [(1, portunus_node::testing::free_udp().to_string())].into();
    let mut config = node_config(1, dir, &peers);
    // The door's per-address and per-user limits are tested elsewhere; here every refused
    // code would count against them.
    config.ssh.auth_failures_per_ip = 0;
    config.ssh.auth_failures_per_user = 0;
    let mut node = portunus_node::start(config).await.expect("node starts");
    node.registered().await;
    wait_listening(node.ssh_addr.expect("ssh").port()).await;
    node
}

/// An SSH_ASKPASS script that answers a "Verification code" prompt with `$PORTUNUS_TEST_CODE`
/// and any other with `$PORTUNUS_TEST_PASSWORD`, and notes every prompt it was shown.
struct Askpass {
    script: PathBuf,
    prompts: PathBuf,
}

impl Askpass {
    fn new(dir: &Path) -> Self {
        let script = dir.join("askpass-2fa.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> \"$PORTUNUS_TEST_PROMPTS\"\n\
             case \"$1\" in\n  *Verification*) printf '%s\\n' \"$PORTUNUS_TEST_CODE\" ;;\n  \
             *) printf '%s\\n' \"$PORTUNUS_TEST_PASSWORD\" ;;\nesac\n",
        )
        .unwrap();
        std::process::Command::new("chmod")
            .arg("700")
            .arg(&script)
            .status()
            .unwrap();
        Askpass {
            script,
            prompts: dir.join("prompts.log"),
        }
    }

    /// An OpenSSH client logging in as `user`, running `true`, with `options` (`-o ...`).
    fn ssh(&self, port: u16, user: &str, options: &[&str], password: &str, code: &str) -> Process {
        let _ = std::fs::remove_file(&self.prompts);
        let mut cmd = Process::new("ssh");
        cmd.args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
            "-F",
            "/dev/null",
        ])
        .args(options)
        .args(["-p", &port.to_string(), "-l", user, "127.0.0.1", "true"])
        .env("SSH_ASKPASS", &self.script)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .env("PORTUNUS_TEST_PASSWORD", password)
        .env("PORTUNUS_TEST_CODE", code)
        .env("PORTUNUS_TEST_PROMPTS", &self.prompts)
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cmd
    }

    /// How many "Verification code" prompts the last client showed.
    fn code_prompts(&self) -> usize {
        std::fs::read_to_string(&self.prompts)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Verification code:"))
            .count()
    }
}

/// What the client saw: logged in (the gateway then spoke), or its standard error.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    LoggedIn,
    Refused(String),
}

async fn run(mut cmd: Process) -> Seen {
    let out = cmd.output().await.expect("run ssh");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if err.contains("portunus: ") {
        Seen::LoggedIn
    } else {
        Seen::Refused(err)
    }
}

fn password_login(askpass: &Askpass, port: u16, user: &str, password: &str, code: &str) -> Process {
    let options = [
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=keyboard-interactive,password",
    ];
    askpass.ssh(port, user, &options, password, code)
}

fn key_login(askpass: &Askpass, port: u16, key: &Path, code: &str) -> Process {
    let key = key.to_str().unwrap().to_string();
    let options = [
        "-o",
        "PreferredAuthentications=publickey,keyboard-interactive",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        &key,
    ];
    askpass.ssh(port, "alice", &options, "", code)
}

fn now_step() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    totp::step_of(ms)
}

fn sha256(text: &str) -> [u8; 32] {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .try_into()
        .unwrap()
}

/// alice (password and key, two-factor on for the instance) with an active authenticator,
/// its last used step the one before now; returns her id.
async fn alice(node: &RunningNode, public_key: &str, lock_threshold: u32) -> u64 {
    let r = &node.replica;
    let settings = ClusterSettings {
        login_lock_threshold: lock_threshold,
        login_lock_window_secs: 600,
        login_lock_secs: 600,
        login_lock_max_secs: 600,
        ..ClusterSettings::default()
    };
    r.propose(Command::UpdateSettings(settings)).await.unwrap();
    let new = NewUser {
        name: "alice".into(),
        password_hash: Some(portunus_node::hash_password(PASSWORD)),
        ..Default::default()
    };
    let user_id = created(r.propose(Command::CreateUser(new)).await);
    let key = Command::AddUserPublicKey {
        user_id,
        name: "laptop".into(),
        public_key: public_key.into(),
        fingerprint: "SHA256:laptop".into(),
        comment: String::new(),
    };
    created(r.propose(key).await);
    let on = TwoFactorSettings {
        enabled: true,
        methods: vec!["totp".into()],
        skip_secs: 0,
    };
    r.propose(Command::SetTwoFactorSettings(on)).await.unwrap();
    user_id
}

async fn enroll(node: &RunningNode, user_id: u64) {
    let sealed = node
        .seal(portunus_model::seal_purpose::TOTP_SECRET, SECRET)
        .unwrap();
    let r = &node.replica;
    let enroll = Command::EnrollTotp {
        user_id,
        secret: sealed.clone(),
        recovery_codes: vec![totp::recovery_digest(RECOVERY)],
    };
    r.propose(enroll).await.unwrap();
    let confirm = Command::ConfirmTotp {
        user_id,
        secret: sealed,
        step: now_step() - 1,
    };
    r.propose(confirm).await.unwrap();
}

fn code(step: u64) -> String {
    totp::code_at(SECRET, step)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_logins_need_a_code_that_works_once_within_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let node = one_node(dir.path()).await;
    let (_, _, public) = keygen(dir.path(), "alice_key");
    let user_id = alice(&node, &public, 100).await;
    let port = node.ssh_addr.unwrap().port();
    let askpass = Askpass::new(dir.path());
    let login =
        |password: &str, code: &str| password_login(&askpass, port, "alice", password, code);

    // Required and not enrolled: refused, saying why, once the password matched.
    match run(login(PASSWORD, "000000")).await {
        Seen::Refused(err) => assert!(err.contains("no authenticator is enrolled"), "{err}"),
        seen => panic!("{seen:?}"),
    }
    enroll(&node, user_id).await;

    let now = now_step();
    assert_eq!(run(login(PASSWORD, &code(now))).await, Seen::LoggedIn);
    assert!(askpass.code_prompts() >= 1, "the code was asked");

    // The same code again: refused (three prompts, each refused), saying so.
    match run(login(PASSWORD, &code(now))).await {
        Seen::Refused(err) => {
            assert!(
                err.contains("wrong or already used verification code"),
                "{err}"
            )
        }
        seen => panic!("a used code logged in again: {seen:?}"),
    }
    assert_eq!(
        askpass.code_prompts(),
        3,
        "{}",
        std::fs::read_to_string(&askpass.prompts).unwrap_or_default()
    );

    // More than one step of skew either way: refused; one step ahead: accepted.
    for step in [now + 3, now.saturating_sub(3)] {
        let seen = run(login(PASSWORD, &code(step))).await;
        assert!(matches!(seen, Seen::Refused(_)), "step {step}: {seen:?}");
    }
    assert_eq!(run(login(PASSWORD, &code(now + 1))).await, Seen::LoggedIn);

    // A wrong password never reaches the code prompt.
    let seen = run(login("wrong-password", &code(now + 1))).await;
    assert!(matches!(seen, Seen::Refused(_)), "{seen:?}");
    assert_eq!(askpass.code_prompts(), 0);

    // A recovery code instead of a code, once.
    assert_eq!(run(login(PASSWORD, RECOVERY)).await, Seen::LoggedIn);
    let seen = run(login(PASSWORD, RECOVERY)).await;
    assert!(
        matches!(seen, Seen::Refused(_)),
        "a recovery code worked twice: {seen:?}"
    );

    // The refused codes since the last success were counted in the replicated run (threshold
    // 100: none of them locked).
    let counted = node.replica.view().read(|s| {
        s.user(user_id)
            .and_then(|u| u.active_totp())
            .map(|t| t.failures.failed)
    });
    assert_eq!(counted, Some(3));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_logins_need_a_code_and_clients_without_the_prompt_are_told_why() {
    let dir = tempfile::tempdir().unwrap();
    let node = one_node(dir.path()).await;
    let (key, _, public) = keygen(dir.path(), "alice_key");
    let user_id = alice(&node, &public, 100).await;
    enroll(&node, user_id).await;
    let port = node.ssh_addr.unwrap().port();
    let askpass = Askpass::new(dir.path());
    let now = now_step();

    let wrong = format!("{:06}", (code(now).parse::<u32>().unwrap() + 1) % 1_000_000);
    let seen = run(key_login(&askpass, port, &key, &wrong)).await;
    assert!(matches!(seen, Seen::Refused(_)), "{seen:?}");
    assert_eq!(
        run(key_login(&askpass, port, &key, &code(now))).await,
        Seen::LoggedIn
    );
    assert!(askpass.code_prompts() >= 1);

    // A client that logs in with the password method only cannot show the prompt: told why.
    let password_only = [
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password",
    ];
    let cmd = askpass.ssh(port, "alice", &password_only, PASSWORD, &code(now + 1));
    match run(cmd).await {
        Seen::Refused(err) => assert!(
            err.contains("keyboard-interactive") && err.contains("two-factor"),
            "{err}"
        ),
        seen => panic!("{seen:?}"),
    }
    // So is one that follows its key with a password.
    let key_text = key.to_str().unwrap();
    let key_then_password = [
        "-o",
        "PreferredAuthentications=publickey,password",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        key_text,
    ];
    let cmd = askpass.ssh(port, "alice", &key_then_password, PASSWORD, &code(now + 1));
    match run(cmd).await {
        Seen::Refused(err) => assert!(err.contains("keyboard-interactive"), "{err}"),
        seen => panic!("{seen:?}"),
    }

    // With the user's status Disable, no code is asked.
    let patch = portunus_model::UserPatch {
        two_factor_status: Some(portunus_model::TwoFactorStatus::Disable),
        ..Default::default()
    };
    node.replica
        .propose(Command::UpdateUser { user_id, patch })
        .await
        .unwrap();
    assert_eq!(
        run(key_login(&askpass, port, &key, "")).await,
        Seen::LoggedIn
    );
    assert_eq!(askpass.code_prompts(), 0);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_codes_lock_codes_and_tokens_ask_for_none() {
    let dir = tempfile::tempdir().unwrap();
    let node = one_node(dir.path()).await;
    let (_, _, public) = keygen(dir.path(), "alice_key");
    let user_id = alice(&node, &public, 3).await;
    enroll(&node, user_id).await;
    let token = database_token(&node, user_id).await;
    let port = node.ssh_addr.unwrap().port();
    let askpass = Askpass::new(dir.path());
    let login =
        |password: &str, code: &str| password_login(&askpass, port, "alice", password, code);

    // Three wrong codes (one connection's three prompts) lock codes...
    let seen = run(login(PASSWORD, "000000")).await;
    assert!(matches!(seen, Seen::Refused(_)), "{seen:?}");
    let locked = node.replica.view().read(|s| {
        let u = s.user(user_id).unwrap();
        (
            u.active_totp().unwrap().failures.locked_until_ms.is_some(),
            u.password_locked_until_ms.is_some(),
        )
    });
    assert_eq!(locked, (true, false), "codes locked, the password not");
    // ...so the right code is refused now, with the words of a wrong one.
    match run(login(PASSWORD, &code(now_step()))).await {
        Seen::Refused(err) => {
            assert!(
                err.contains("wrong or already used verification code"),
                "{err}"
            )
        }
        seen => panic!("a locked second factor let a login in: {seen:?}"),
    }
    // An O&M token is a one-time secret an administrator issued: no code is asked.
    assert_eq!(run(login(&token, "")).await, Seen::LoggedIn);
    assert_eq!(askpass.code_prompts(), 0);
    // An administrator's unlock ends the lockout.
    node.replica
        .propose(Command::UnlockUsers {
            user_ids: vec![user_id],
        })
        .await
        .unwrap();
    assert_eq!(
        run(login(PASSWORD, &code(now_step() + 1))).await,
        Seen::LoggedIn
    );
    node.stop().await;
}

/// An O&M token of alice's for a database (nothing listens there: the gateway speaks first).
async fn database_token(node: &RunningNode, user_id: u64) -> String {
    let r = &node.replica;
    let db = NewDatabase {
        name: "orders".into(),
        engine: DbEngine::SqlServer,
        address: "127.0.0.1".into(),
        port: free_port(),
        source: Default::default(),
        source_instance_id: String::new(),
        comment: String::new(),
        network_domain_id: None,
        project_id: None,
    };
    let database_id = created(r.propose(Command::CreateDatabase(db)).await);
    let account = NewDatabaseAccount {
        database_id,
        name: "app".into(),
        password: None,
        comment: String::new(),
    };
    let account_id = created(r.propose(Command::CreateDatabaseAccount(account)).await);
    let grant = Command::AttachDatabaseAccounts {
        principal: Principal::User(user_id),
        database_id,
        account_ids: [account_id].into(),
    };
    r.propose(grant).await.unwrap();
    let token = "tok-two-factor-Wq7s9Xk2".to_string();
    let issue = NewToken {
        database_schema: None,
        mysql_native: None,
        pg_scram: None,
        issued_by: None,
        token_hash: sha256(&token),
        user_id,
        asset: AssetRef::Database(database_id),
        account: TokenAccount::Hosted(account_id),
        protocol: Protocol::SqlServer,
        validity_secs: Some(600),
        use_count: Some(10),
    };
    assert!(matches!(
        r.propose(Command::IssueToken(issue)).await,
        Ok(Response::TokenIssued(_))
    ));
    token
}
