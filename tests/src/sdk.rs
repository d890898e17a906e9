//! O&M tokens for whole-system tests, obtained the way an operator would: the official
//! Bastionhost Python SDK (`ops/tests/sdk_smoke.py`) against the nodes' APIs, with the Admin
//! AccessKey pair the cluster's first start takes from the environment. Also a TCP echo server
//! standing for the database the token reaches.

use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The Admin AccessKey id of test clusters (see [`admin_key_env`]).
pub const ADMIN_KEY_ID: &str = "PTNtestadminkey";
/// Its secret.
pub const ADMIN_KEY_SECRET: &str = "test-admin-secret-0123456789";

/// Environment for the first start of a cluster so that its first Admin key is the one above.
pub fn admin_key_env() -> Vec<(String, String)> {
    vec![
        (
            "PORTUNUS_BOOTSTRAP_ACCESS_KEY_ID".into(),
            ADMIN_KEY_ID.into(),
        ),
        (
            "PORTUNUS_BOOTSTRAP_ACCESS_KEY_SECRET".into(),
            ADMIN_KEY_SECRET.into(),
        ),
    ]
}

/// A TCP echo server on a free loopback port (threads live as long as the process).
pub fn echo_server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind echo server");
    let port = l.local_addr().expect("bound").port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                if let Ok(mut r) = s.try_clone() {
                    let _ = std::io::copy(&mut r, &mut s);
                }
            });
        }
    });
    port
}

fn sdk_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/tests/sdk_smoke.py")
}

/// A user and an O&M token (unlimited uses, valid for an hour) for a SQL Server database (an echo
/// server: SQL Server is relayed as plain bytes) at
/// `127.0.0.1:db_port`, made through the SDK against `endpoints`. Returns (user, token).
pub fn database_token(
    endpoints: &[SocketAddr],
    db_port: u16,
    work_dir: &Path,
) -> Result<(String, String)> {
    let out_file = work_dir.join("token.json");
    let endpoints: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
    let run = std::process::Command::new("python3")
        .arg(sdk_script())
        .env("PORTUNUS_API_ENDPOINTS", endpoints.join(","))
        .env("PORTUNUS_AK_ID", ADMIN_KEY_ID)
        .env("PORTUNUS_AK_SECRET", ADMIN_KEY_SECRET)
        .env("PORTUNUS_SMOKE_DB_PORT", db_port.to_string())
        .env("PORTUNUS_SMOKE_OUT", &out_file)
        .output()
        .context("running the SDK script")?;
    let stdout = String::from_utf8_lossy(&run.stdout);
    if !run.status.success() || !stdout.contains("sdk_smoke: OK") {
        bail!(
            "SDK script failed: {stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let issued: serde_json::Value = serde_json::from_slice(&std::fs::read(&out_file)?)?;
    let field = |k: &str| {
        issued[k]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {k} in {issued}"))
    };
    Ok((field("user")?, field("token")?))
}

/// Runs one step of an SDK script of `ops/tests/` (`script`, e.g. `sdk_policies.py`) against
/// `api` with the test Admin key: the step named in `step_var`, with more environment `env`
/// (which may name another key). Panics with the script's output unless it succeeds and prints
/// `<script stem>: OK`.
pub fn run_step(api: SocketAddr, script: &str, step_var: &str, step: &str, env: &[(&str, &str)]) {
    if let Err(why) = try_step(api, script, step_var, step, env) {
        panic!("{why}");
    }
}

/// [`run_step`], answering why it failed instead of panicking (for steps that wait for a
/// write on another node to arrive).
pub fn try_step(
    api: SocketAddr,
    script: &str,
    step_var: &str,
    step: &str,
    env: &[(&str, &str)],
) -> std::result::Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ops/tests")
        .join(script);
    let out = std::process::Command::new("python3")
        .arg(&path)
        .env("PORTUNUS_API_ENDPOINT", api.to_string())
        .env("PORTUNUS_AK_ID", ADMIN_KEY_ID)
        .env("PORTUNUS_AK_SECRET", ADMIN_KEY_SECRET)
        .env(step_var, step)
        .envs(env.iter().copied())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ok = format!("{}: OK", script.trim_end_matches(".py"));
    if out.status.success() && stdout.contains(&ok) {
        return Ok(());
    }
    Err(format!(
        "SDK step {step} of {script} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    ))
}
