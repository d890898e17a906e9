//! `portunus sso`: the launcher behind the O&M portal's "Open in local client" links. The portal
//! hands the browser a `portunus://launch?...` link holding a fresh one-use O&M token; the
//! browser passes it to the program registered for the scheme (`portunus sso --register` on
//! Linux, through XDG), which starts the engineer's chosen client logged in with the token:
//! OpenSSH to the bastion's SSH port (the token's host account), `mysql` or `psql` to its native
//! database ports, or DBeaver with a connection to them. Command-line clients run in a terminal
//! emulator when the launcher was not started from one.
//!
//! A link is data from a web page, so it is read strictly: known protocols and clients only, a
//! host name or address, numeric ports, plain names, a token of the token alphabet; anything
//! else is refused with the reason. The client is started directly (never through a shell),
//! and the token reaches it through its environment (`MYSQL_PWD`, `PGPASSWORD`, or this program
//! answering OpenSSH's password prompt as its `SSH_ASKPASS`), never on its command line.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The scheme of launch links.
pub const SCHEME: &str = "portunus";

/// Set in OpenSSH's environment: when this program is started with it, it is OpenSSH's askpass
/// and answers a password prompt with the value.
pub const ASKPASS_ENV: &str = "PORTUNUS_SSO_TOKEN";

/// The desktop entry `--register` writes.
pub const DESKTOP_FILE: &str = "portunus-sso.desktop";

/// Options of `portunus sso`.
#[derive(clap::Args, Debug)]
pub struct SsoArgs {
    /// The `portunus://` link to open (as the browser passes it).
    #[arg(required_unless_present = "register")]
    pub url: Option<String>,
    /// Register this program as the handler of `portunus://` links for the current user: a
    /// desktop entry in $XDG_DATA_HOME/applications, made the scheme's default with `xdg-mime`.
    #[arg(long, conflicts_with = "url")]
    pub register: bool,
    /// Print the command that would be started (without the token) instead of starting it.
    #[arg(long)]
    pub dry_run: bool,
    /// The terminal emulator command-line clients run in when the launcher has no terminal of
    /// its own (as a browser starts it); it is given `-e PROGRAM ARGS...`, as
    /// x-terminal-emulator, xterm and konsole take it.
    #[arg(
        long,
        env = "PORTUNUS_SSO_TERMINAL",
        default_value = "x-terminal-emulator"
    )]
    pub terminal: String,
}

/// What a link asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub protocol: Protocol,
    pub client: Client,
    /// The bastion's O&M address and the port of the protocol's door.
    pub host: String,
    pub port: u16,
    /// The bastion user.
    pub user: String,
    pub token: String,
    /// What the token reaches, for the window's title: the asset and account names.
    pub asset: String,
    pub account: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Ssh,
    MySql,
    PostgreSql,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    OpenSsh,
    Mysql,
    Psql,
    DBeaver,
}

impl Protocol {
    fn parse(s: &str) -> anyhow::Result<Protocol> {
        Ok(match s {
            "ssh" => Protocol::Ssh,
            "mysql" => Protocol::MySql,
            "postgresql" => Protocol::PostgreSql,
            other => bail!("the link's protocol '{other}' is not one of ssh, mysql, postgresql"),
        })
    }

    /// The clients that speak it, the first being the default.
    fn clients(self) -> &'static [Client] {
        match self {
            Protocol::Ssh => &[Client::OpenSsh],
            Protocol::MySql => &[Client::Mysql, Client::DBeaver],
            Protocol::PostgreSql => &[Client::Psql, Client::DBeaver],
        }
    }
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::OpenSsh => "ssh",
            Client::Mysql => "mysql",
            Client::Psql => "psql",
            Client::DBeaver => "dbeaver",
        }
    }

    /// Whether it needs a terminal (DBeaver opens a window of its own).
    fn in_terminal(self) -> bool {
        self != Client::DBeaver
    }
}

/// Percent-decoding of a query value (`+` is a space, as in forms).
fn decode(s: &str) -> anyhow::Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .context("the link has a broken %-escape")?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).context("the link is not UTF-8 text")
}

/// A host name (letters, digits, `-`, `.`) or an IP address (IPv6 in brackets or bare).
fn host_ok(h: &str) -> bool {
    let bare = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !h.is_empty()
        && h.len() <= 253
        && !h.starts_with(['-', '.'])
        && h.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
}

/// A user, asset or account name: printable, no spaces or shell-special or option-like start.
fn name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 128
        && !n.starts_with('-')
        && n.chars().all(|c| c.is_alphanumeric() || "._-@".contains(c))
}

impl Launch {
    /// Reads a `portunus://launch?...` link.
    pub fn parse(url: &str) -> anyhow::Result<Launch> {
        let rest = url
            .strip_prefix(SCHEME)
            .and_then(|r| r.strip_prefix("://launch"))
            .with_context(|| {
                format!("not a launch link (it must start with {SCHEME}://launch?)")
            })?;
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let query = rest
            .strip_prefix('?')
            .context("the launch link has no parameters")?;
        let mut q = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k)?;
            if q.insert(k.clone(), decode(v)?).is_some() {
                bail!("the link names '{k}' twice");
            }
        }
        let mut take = |k: &str| {
            q.remove(k)
                .with_context(|| format!("the link has no '{k}'"))
        };
        let protocol = Protocol::parse(&take("protocol")?)?;
        let host = take("host")?;
        if !host_ok(&host) {
            bail!("the link's host '{host}' is not a host name or address");
        }
        let port = take("port")?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .with_context(|| format!("the link's port '{port}' is not a port number"))?;
        let user = take("user")?;
        let token = take("token")?;
        if !(16..=128).contains(&token.len())
            || !token
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            bail!("the link's token is not an O&M token");
        }
        let (asset, account) = (take("asset")?, take("account")?);
        for (what, n) in [("user", &user), ("asset", &asset), ("account", &account)] {
            if !name_ok(n) {
                bail!("the link's {what} '{n}' is not a plain name");
            }
        }
        let client = match q.remove("client") {
            None => protocol.clients()[0],
            Some(c) => *protocol
                .clients()
                .iter()
                .find(|k| k.name() == c)
                .with_context(|| {
                    let names: Vec<_> = protocol.clients().iter().map(|k| k.name()).collect();
                    format!(
                        "the link's client '{c}' does not open this protocol (one of: {})",
                        names.join(", ")
                    )
                })?,
        };
        if let Some(k) = q.keys().next() {
            bail!("the link has an unknown parameter '{k}'");
        }
        Ok(Launch {
            protocol,
            client,
            host,
            port,
            user,
            token,
            asset,
            account,
        })
    }

    /// What it reaches, in words (the terminal's title, the dry run).
    pub fn title(&self) -> String {
        format!(
            "{} as {} through {}:{} ({})",
            self.asset,
            self.account,
            self.host,
            self.port,
            self.client.name()
        )
    }

    /// The client's program, arguments and environment; `askpass` is this program (OpenSSH's
    /// password prompt is answered by it); OpenSSH keeps the bastion's host key in
    /// `known_hosts` (before the user's own file, which it also reads).
    pub fn command(&self, askpass: &Path, known_hosts: &Path) -> Command {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let mut env = Vec::new();
        let (program, args): (&str, Vec<String>) = match self.client {
            Client::OpenSsh => {
                env.push(("SSH_ASKPASS".into(), askpass.as_os_str().to_owned()));
                env.push(("SSH_ASKPASS_REQUIRE".into(), "force".into()));
                env.push((ASKPASS_ENV.into(), self.token.clone().into()));
                let args = vec![
                    "-p".into(),
                    self.port.to_string(),
                    "-l".into(),
                    self.user.clone(),
                    // Only the token: the user's keys would log in as the user, not spend it.
                    "-o".into(),
                    "PreferredAuthentications=password,keyboard-interactive".into(),
                    "-o".into(),
                    "PubkeyAuthentication=no".into(),
                    "-o".into(),
                    format!(
                        "UserKnownHostsFile=\"{}\" ~/.ssh/known_hosts",
                        known_hosts.display()
                    ),
                    "--".into(),
                    host.to_string(),
                ];
                ("ssh", args)
            }
            Client::Mysql => {
                env.push(("MYSQL_PWD".into(), self.token.clone().into()));
                let args = vec![
                    "-h".into(),
                    host.to_string(),
                    "-P".into(),
                    self.port.to_string(),
                    "-u".into(),
                    self.user.clone(),
                    "--protocol=TCP".into(),
                ];
                ("mysql", args)
            }
            Client::Psql => {
                env.push(("PGPASSWORD".into(), self.token.clone().into()));
                let conninfo = format!(
                    "host={host} port={} user={} sslmode=prefer",
                    self.port, self.user
                );
                ("psql", vec![conninfo])
            }
            Client::DBeaver => {
                // DBeaver's command-line connection (`-con`), not saved; it reads no password
                // from its environment, so the one-use token is in the spec.
                let driver = match self.protocol {
                    Protocol::PostgreSql => "postgresql",
                    _ => "mysql",
                };
                let spec = format!(
                    "driver={driver}|host={host}|port={}|user={}|password={}|name=Portunus {}|save=false|connect=true|openConsole=true",
                    self.port, self.user, self.token, self.asset
                );
                ("dbeaver", vec!["-con".into(), spec])
            }
        };
        Command {
            program: program.into(),
            args,
            env,
        }
    }
}

/// A program to start.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(OsString, OsString)>,
}

impl Command {
    /// The command line with the token hidden (for `--dry-run` and errors).
    fn shown(&self, token: &str) -> String {
        let mut words = vec![self.program.clone()];
        words.extend(self.args.iter().map(|a| a.replace(token, "<token>")));
        words.join(" ")
    }
}

/// Answers OpenSSH's prompt when this program runs as its askpass: the token for a password
/// prompt; any other question (a new host key to accept) is asked on the terminal.
pub fn askpass(token: &str, prompt: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, Write};
    if prompt.to_lowercase().contains("password") {
        println!("{token}");
        return Ok(());
    }
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("OpenSSH asked a question and there is no terminal to ask it on")?;
    let mut out = &tty;
    out.write_all(prompt.as_bytes())?;
    out.flush()?;
    let mut answer = String::new();
    std::io::BufReader::new(&tty).read_line(&mut answer)?;
    print!("{answer}");
    Ok(())
}

/// The desktop entry that makes `exe` the handler of `portunus://` links.
pub fn desktop_entry(exe: &Path) -> String {
    // A plain path is written as it is (xdg-open of xdg-utils 1.1 does not unquote); one with
    // other characters goes in double quotes with `"`, `` ` ``, `$` and `\` escaped, as the
    // Exec key's quoting rules say.
    let path = exe.to_string_lossy();
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c));
    let program = if plain {
        path.into_owned()
    } else {
        let mut quoted = String::from('"');
        for c in path.chars() {
            if "\"`$\\".contains(c) {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        quoted
    };
    format!(
        "[Desktop Entry]\nType=Application\nName=Portunus local client launcher\n\
         Comment=Opens ssh, mysql, psql or DBeaver from the Portunus O&M portal\n\
         Exec={program} sso %u\nTerminal=false\nNoDisplay=true\n\
         MimeType=x-scheme-handler/{SCHEME};\n"
    )
}

/// Where OpenSSH started by the launcher keeps the bastion's host keys
/// ($XDG_CONFIG_HOME/portunus/known_hosts, by default ~/.config/portunus/known_hosts): the
/// first login asks, in the terminal, whether to trust the key the bastion presents.
fn known_hosts() -> anyhow::Result<PathBuf> {
    let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME").context("HOME is not set")?;
            PathBuf::from(home).join(".config")
        }
    };
    let dir = config.join("portunus");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.join("known_hosts"))
}

/// The user's applications directory ($XDG_DATA_HOME/applications, by default
/// ~/.local/share/applications).
fn applications_dir() -> anyhow::Result<PathBuf> {
    let data = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME").context("HOME is not set")?;
            PathBuf::from(home).join(".local/share")
        }
    };
    Ok(data.join("applications"))
}

fn register() -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding this program's path")?;
    let dir = applications_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(DESKTOP_FILE);
    std::fs::write(&path, desktop_entry(&exe))
        .with_context(|| format!("writing {}", path.display()))?;
    let status = std::process::Command::new("xdg-mime")
        .args([
            "default",
            DESKTOP_FILE,
            &format!("x-scheme-handler/{SCHEME}"),
        ])
        .status()
        .context("running xdg-mime (install xdg-utils)")?;
    if !status.success() {
        bail!("xdg-mime could not make {DESKTOP_FILE} the handler of {SCHEME}:// links ({status})");
    }
    // Desktops that cache the handlers read the directory's database; without the tool the
    // entry still works where the handler is looked up directly.
    let _ = std::process::Command::new("update-desktop-database")
        .arg(&dir)
        .status();
    println!(
        "{SCHEME}:// links now open with {} ({})",
        exe.display(),
        path.display()
    );
    Ok(())
}

/// `portunus sso`.
pub fn run(args: SsoArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if args.register {
        return register();
    }
    let url = args.url.unwrap_or_default();
    let launch = Launch::parse(url.trim())?;
    let exe = std::env::current_exe().context("finding this program's path")?;
    let cmd = launch.command(&exe, &known_hosts()?);
    let in_terminal = launch.client.in_terminal() && !std::io::stdin().is_terminal();
    let mut argv = Vec::new();
    if in_terminal {
        argv.extend([args.terminal.clone(), "-e".to_string()]);
    }
    argv.push(cmd.program.clone());
    argv.extend(cmd.args.iter().cloned());
    if args.dry_run {
        let shown = if in_terminal {
            format!("{} -e {}", args.terminal, cmd.shown(&launch.token))
        } else {
            cmd.shown(&launch.token)
        };
        println!("{}: {shown}", launch.title());
        return Ok(());
    }
    let mut child = std::process::Command::new(&argv[0]);
    child
        .args(&argv[1..])
        .envs(cmd.env.iter().map(|(k, v)| (k, v)));
    if in_terminal {
        child.env("PORTUNUS_SSO_TITLE", launch.title());
        // The terminal goes on by itself: the browser's launcher is done once it started.
        child
            .spawn()
            .with_context(|| format!("starting the terminal '{}'", args.terminal))?;
        return Ok(());
    }
    let status = child
        .status()
        .with_context(|| format!("starting {}", cmd.program))?;
    if !status.success() {
        bail!("{} ended: {status}", cmd.program);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn link(extra: &str) -> String {
        format!(
            "portunus://launch?protocol=ssh&host=bastion.example&port=60022&user=alice&token={TOKEN}&asset=web-01&account=root{extra}"
        )
    }

    #[test]
    fn a_link_is_read_strictly() {
        let l = Launch::parse(&link("")).unwrap();
        assert_eq!(
            (
                l.protocol,
                l.client,
                l.host.as_str(),
                l.port,
                l.user.as_str()
            ),
            (
                Protocol::Ssh,
                Client::OpenSsh,
                "bastion.example",
                60022,
                "alice"
            )
        );
        let db = "portunus://launch?protocol=mysql&host=%5B%3A%3A1%5D&port=33306&user=alice\
                  &token=abcdefABCDEF0123_-xyz&asset=orders&account=app&client=dbeaver";
        let l = Launch::parse(db).unwrap();
        assert_eq!(
            (l.protocol, l.client, l.host.as_str()),
            (Protocol::MySql, Client::DBeaver, "[::1]")
        );
        for (bad, why) in [
            (
                "https://launch?protocol=ssh".to_string(),
                "not a launch link",
            ),
            (link("&client=psql"), "does not open this protocol"),
            (link("&evil=1"), "unknown parameter 'evil'"),
            (link("&user=bob"), "names 'user' twice"),
            (
                link("").replace("bastion.example", "evil;rm%20-rf"),
                "not a host name",
            ),
            (
                link("").replace("bastion.example", "-oProxyCommand=x"),
                "not a host name",
            ),
            (link("").replace("60022", "0"), "not a port number"),
            (link("").replace("60022", "70000"), "not a port number"),
            (
                link("").replace("user=alice", "user=-oProxyCommand"),
                "not a plain name",
            ),
            (
                link("").replace("user=alice", "user=al%20ice"),
                "not a plain name",
            ),
            (link("").replace(TOKEN, "short"), "not an O&M token"),
            (
                link("").replace(TOKEN, &format!("{TOKEN}%27")),
                "not an O&M token",
            ),
            (
                link("").replace("protocol=ssh", "protocol=rdp"),
                "not one of ssh",
            ),
            (link("").replace("&asset=web-01", ""), "no 'asset'"),
            (link("").replace("%", "") + "&x=%zz", "broken %-escape"),
        ] {
            let e = Launch::parse(&bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_token_reaches_each_client_outside_its_command_line() {
        let askpass = Path::new("/usr/bin/portunus");
        let known = Path::new("/home/a/.config/portunus/known_hosts");
        for (url, program) in [
            (link(""), "ssh"),
            (link("").replace("protocol=ssh", "protocol=mysql"), "mysql"),
            (
                link("").replace("protocol=ssh", "protocol=postgresql"),
                "psql",
            ),
        ] {
            let c = Launch::parse(&url).unwrap().command(askpass, known);
            assert_eq!(c.program, program);
            assert!(c.args.iter().all(|a| !a.contains(TOKEN)), "{c:?}");
            assert!(c.env.iter().any(|(_, v)| v == TOKEN), "{c:?}");
        }
        let ssh = Launch::parse(&link("")).unwrap().command(askpass, known);
        assert_eq!(
            ssh.args.join(" "),
            "-p 60022 -l alice -o PreferredAuthentications=password,keyboard-interactive \
             -o PubkeyAuthentication=no -o UserKnownHostsFile=\"/home/a/.config/portunus/known_hosts\" \
             ~/.ssh/known_hosts -- bastion.example"
        );
        let dbeaver =
            Launch::parse(&link("&client=dbeaver").replace("protocol=ssh", "protocol=postgresql"))
                .unwrap()
                .command(askpass, known);
        assert!(dbeaver.args[1]
            .starts_with("driver=postgresql|host=bastion.example|port=60022|user=alice|"));
        assert!(!dbeaver.shown(TOKEN).contains(TOKEN));
    }

    #[test]
    fn the_desktop_entry_names_this_program_for_the_scheme() {
        let e = desktop_entry(Path::new("/usr/local/bin/portunus"));
        assert!(e.contains("Exec=/usr/local/bin/portunus sso %u\n"), "{e}");
        assert!(e.contains("MimeType=x-scheme-handler/portunus;\n"), "{e}");
        let e = desktop_entry(Path::new("/opt/my \"tools\"/portunus"));
        assert!(
            e.contains("Exec=\"/opt/my \\\"tools\\\"/portunus\" sso %u\n"),
            "{e}"
        );
    }
}
