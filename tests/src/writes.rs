//! Writes through the API while faults happen, and checks that what was acknowledged is there:
//! users created by threads through chosen nodes, and the user names a node lists.

use crate::{admin_cli, wait_until, NodeProc};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The user names listed through node `n`; None when it does not answer with a list.
pub fn user_names(n: &NodeProc) -> Option<BTreeSet<String>> {
    let out = n.admin(&["--json", "user", "list"]);
    if !out.ok {
        return None;
    }
    names_listed(&out.stdout)
}

/// The user names of a `--json user list` answer; None when it is not one.
pub fn names_listed(stdout: &str) -> Option<BTreeSet<String>> {
    let v: serde_json::Value = serde_json::from_str(stdout).ok()?;
    Some(
        v.as_array()?
            .iter()
            .filter_map(|u| u["UserName"].as_str().map(str::to_string))
            .collect(),
    )
}

/// Wait until every name of `want` is listed through node `n`; panics naming the missing ones
/// otherwise.
pub fn wait_listed(n: &NodeProc, want: &BTreeSet<String>, within: Duration) {
    let mut missing = want.clone();
    let seen = wait_until("the users to be listed", within, || {
        if let Some(names) = user_names(n) {
            missing = want.difference(&names).cloned().collect();
        }
        missing.is_empty()
    });
    assert!(
        seen.is_ok(),
        "node {} does not list {} of {} users: {missing:?}",
        n.id,
        missing.len(),
        want.len()
    );
}

/// Threads creating users through the APIs `apis` (one each, names `{prefix}{api index}-{k}`)
/// until stopped; they keep the names whose creation was acknowledged.
pub struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeSet<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    pub fn start(apis: &[SocketAddr], prefix: &str) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(BTreeSet::new()));
        let threads = apis
            .iter()
            .enumerate()
            .map(|(i, api)| {
                let (stop, acked, api) = (stop.clone(), acked.clone(), *api);
                let prefix = format!("{prefix}{i}-");
                std::thread::spawn(move || {
                    let mut k = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let name = format!("{prefix}{k}");
                        k += 1;
                        let out =
                            admin_cli(api, &["user", "create", &name, "--password", "Passw0rd!x"]);
                        if out.ok {
                            acked.lock().unwrap().insert(name);
                        } else {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                })
            })
            .collect();
        Writers {
            stop,
            acked,
            threads,
        }
    }

    /// How many creations were acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Stop the writers; the names acknowledged.
    pub fn stop(self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().expect("writer thread");
        }
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}
