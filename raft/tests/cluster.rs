//! Three real members in one process (real QUIC, real RocksDB in temporary directories):
//! replication, forwarding, exactly-once token spending, leader loss, restart from disk,
//! catch-up by snapshot, and refusal of a process without the cluster secret.

use portunus_model::{
    AssetRef, Command, NewHost, NewHostAccount, NewToken, NewUser, Protocol, Rejection, Response,
    TokenAccount,
};
use portunus_raft::tls::ClusterSecret;
use portunus_raft::{ClusterClient, NodeInfo, RaftConfig, Replica, ReplicaError, StartError};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const SECRET: &str = "test-cluster-secret-0123456789-ABCDEFGH";

fn secret() -> ClusterSecret {
    ClusterSecret::new(SECRET).unwrap()
}

struct Cluster {
    _dir: tempfile::TempDir,
    dirs: Vec<PathBuf>,
    addrs: Vec<SocketAddr>,
    nodes: Vec<Option<Replica>>,
    snapshot_every: u64,
    /// Election timeout bounds, milliseconds (the defaults unless a test needs slow elections).
    election_ms: (u64, u64),
}

fn config(id: u64, dir: PathBuf, snapshot_every: u64, election_ms: (u64, u64)) -> RaftConfig {
    let mut c = RaftConfig::new(id, dir);
    (c.election_min_ms, c.election_max_ms) = election_ms;
    c.snapshot_every = snapshot_every;
    c.keep_behind_snapshot = snapshot_every / 4;
    c.purge_batch = 8;
    c
}

async fn wait_until<F: Fn() -> bool>(what: &str, f: F) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

impl Cluster {
    async fn start(n: u64, snapshot_every: u64) -> Cluster {
        let defaults = RaftConfig::new(0, PathBuf::new());
        Self::start_with(
            n,
            snapshot_every,
            (defaults.election_min_ms, defaults.election_max_ms),
        )
        .await
    }

    async fn start_with(n: u64, snapshot_every: u64, election_ms: (u64, u64)) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cluster {
            dirs: (1..=n).map(|i| dir.path().join(format!("n{i}"))).collect(),
            _dir: dir,
            addrs: Vec::new(),
            nodes: Vec::new(),
            snapshot_every,
            election_ms,
        };
        for id in 1..=n {
            let cfg = config(
                id,
                c.dirs[id as usize - 1].clone(),
                snapshot_every,
                election_ms,
            );
            let r = Replica::start(cfg, portunus_test_ports::free_addr(), &secret())
                .await
                .unwrap();
            c.addrs.push(r.local_addr());
            c.nodes.push(Some(r));
        }
        let voters: BTreeMap<u64, NodeInfo> = c
            .addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let info = NodeInfo {
                    cluster_addr: a.to_string(),
                    ..Default::default()
                };
                (i as u64 + 1, info)
            })
            .collect();
        for node in c.nodes.iter().flatten() {
            node.initialize(voters.clone()).await.unwrap();
        }
        c.wait_leader().await;
        c
    }

    fn node(&self, id: u64) -> &Replica {
        self.nodes[id as usize - 1].as_ref().expect("node running")
    }

    fn running(&self) -> impl Iterator<Item = &Replica> {
        self.nodes.iter().flatten()
    }

    /// The leader, once every running node knows the same running one.
    async fn wait_leader(&self) -> u64 {
        for _ in 0..1500 {
            let leaders: Vec<Option<u64>> = self.running().map(|r| r.status().leader).collect();
            if let Some(Some(l)) = leaders.first() {
                if self.nodes[*l as usize - 1].is_some() && leaders.iter().all(|x| *x == Some(*l)) {
                    return *l;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no leader");
    }

    async fn kill(&mut self, id: u64) {
        let r = self.nodes[id as usize - 1].take().unwrap();
        r.shutdown().await;
    }

    async fn restart(&mut self, id: u64) {
        let cfg = config(
            id,
            self.dirs[id as usize - 1].clone(),
            self.snapshot_every,
            self.election_ms,
        );
        let addr = self.addrs[id as usize - 1];
        // In one process a stopped replica's UDP socket is released only once the QUIC
        // endpoint's driver has drained its connections: retry the bind for a while.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let r = loop {
            match Replica::start(cfg.clone(), addr, &secret()).await {
                Ok(r) => break r,
                Err(StartError::Listen { .. }) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("restart node {id}: {e}"),
            }
        };
        self.nodes[id as usize - 1] = Some(r);
    }

    async fn converge(&self) {
        let target = self
            .running()
            .map(|r| r.status().last_log_index)
            .max()
            .unwrap();
        for r in self.running() {
            let view = r.view().clone();
            wait_until("replicas to apply the log", || {
                view.applied_index() >= target
            })
            .await;
        }
    }
}

fn user(name: &str) -> Command {
    Command::CreateUser(NewUser {
        name: name.into(),
        ..Default::default()
    })
}

fn created(r: Result<Response, ReplicaError>) -> u64 {
    match r {
        Ok(Response::Created { id }) => id,
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn epoch(r: &Replica) -> u64 {
    match r.propose(Command::NodeStarted { node_id: r.id() }).await {
        Ok(Response::NodeEpoch { epoch, .. }) => epoch,
        other => panic!("expected NodeEpoch, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_from_any_node_replicate_and_read_linearizably() {
    let c = Cluster::start(3, 5_000).await;
    for (i, id) in [1u64, 2, 3, 2, 1, 3].iter().enumerate() {
        created(c.node(*id).propose(user(&format!("u{i}"))).await);
    }
    for id in 1..=3 {
        let n = c
            .node(id)
            .read_linearizable(|s| s.users().count())
            .await
            .unwrap();
        assert_eq!(n, 6, "node {id} sees every acknowledged write");
    }
    let dup = c.node(2).propose(user("u0")).await;
    assert!(
        matches!(
            dup,
            Err(ReplicaError::Rejected(Rejection::AlreadyExists { .. }))
        ),
        "{dup:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_all_commit_and_the_commit_index_follows() {
    let c = Cluster::start(3, 5_000).await;
    let before: Vec<u64> = (1..=3)
        .map(|id| c.node(id).view().committed_index())
        .collect();
    // Many proposals in flight at once share fsyncs (group commit); each is still acknowledged
    // only once committed, and answered exactly once.
    let writes = (0..150u64).map(|i| c.node(1 + i % 3).propose(user(&format!("c{i}"))));
    for r in futures::future::join_all(writes).await {
        created(r);
    }
    let last = c
        .running()
        .map(|r| r.status().last_log_index)
        .max()
        .unwrap();
    for id in 1..=3 {
        let view = c.node(id).view().clone();
        wait_until("the commit index to reach the last entry", || {
            view.committed_index() >= last
        })
        .await;
        assert!(
            view.committed_index() > before[id as usize - 1],
            "node {id}"
        );
        c.converge().await;
        assert!(view.committed_index() >= view.applied_index(), "node {id}");
        assert_eq!(view.read(|s| s.users().count()), 150, "node {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_is_spent_exactly_once_across_the_cluster() {
    let c = Cluster::start(3, 5_000).await;
    let user_id = created(c.node(1).propose(user("alice")).await);
    let host_id = created(
        c.node(2)
            .propose(Command::CreateHost(NewHost {
                name: "web-01".into(),
                private_address: "10.0.0.5".into(),
                ..Default::default()
            }))
            .await,
    );
    let account_id = created(
        c.node(3)
            .propose(Command::CreateHostAccount(NewHostAccount {
                host_id,
                name: "root".into(),
                protocol: Protocol::Ssh,
                password: None,
                private_key: None,
                shared_key_id: None,
                sftp_only: false,
            }))
            .await,
    );
    let grant = Command::AttachHostAccounts {
        principal: portunus_model::Principal::User(user_id),
        host_id,
        account_ids: [account_id].into(),
    };
    c.node(2).propose(grant).await.unwrap();
    let token_hash = [7u8; 32];
    let issued = c
        .node(1)
        .propose(Command::IssueToken(NewToken {
            database_schema: None,
            mysql_native: None,
            pg_scram: None,
            issued_by: None,
            token_hash,
            user_id,
            asset: AssetRef::Host(host_id),
            account: TokenAccount::Hosted(account_id),
            protocol: Protocol::Ssh,
            validity_secs: Some(600),
            use_count: Some(1),
        }))
        .await;
    assert!(matches!(issued, Ok(Response::TokenIssued(_))), "{issued:?}");
    let mut spends = Vec::new();
    for id in 1..=3u64 {
        let r = c.node(id).clone();
        let e = epoch(&r).await;
        spends.push(tokio::spawn(async move {
            r.propose(Command::SpendToken {
                token_hash,
                node_id: r.id(),
                node_epoch: e,
                client_addr: "127.0.0.1:5555".into(),
                protocol: Some(Protocol::Ssh),
            })
            .await
        }));
    }
    let mut won = 0;
    for s in spends {
        match s.await.unwrap() {
            Ok(Response::SessionOpened(_)) => won += 1,
            Err(ReplicaError::Rejected(_)) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one of three concurrent spends succeeds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_leader_loses_no_acknowledged_write_and_restart_recovers() {
    let mut c = Cluster::start(3, 5_000).await;
    for i in 0..20 {
        created(c.node(1 + i % 3).propose(user(&format!("before{i}"))).await);
    }
    let old = c.wait_leader().await;
    c.kill(old).await;
    let new = c.wait_leader().await;
    assert_ne!(new, old);
    let survivor = (1..=3).find(|i| *i != old).unwrap();
    for i in 0..20 {
        created(c.node(survivor).propose(user(&format!("after{i}"))).await);
    }
    c.restart(old).await;
    c.converge().await;
    for id in 1..=3 {
        let names: Vec<String> = c
            .node(id)
            .view()
            .read(|s| s.users().map(|u| u.name.clone()).collect());
        assert_eq!(names.len(), 40, "node {id} holds all 40 users");
    }
}

/// A leader counts its followers' acknowledgements before its own flush, so a power cut can
/// take from its disk entries the cluster committed. Started again, it must not lead the same
/// term and give those entries' log ids to new ones (the followers, holding entries with those
/// ids, would skip them): the members' states would differ.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_that_lost_committed_entries_comes_back_without_forking_the_log() {
    // Elections slow enough (a follower waits the lease and its timeout: 4-5 s) that the
    // followers are still following the old leader when it is back.
    let mut c = Cluster::start_with(3, 5_000, (2_000, 2_500)).await;
    let mut acknowledged = std::collections::BTreeSet::new();
    for i in 0..10 {
        let name = format!("kept{i}");
        created(c.node(1 + i % 3).propose(user(&name)).await);
        acknowledged.insert(name);
    }
    let leader = c.wait_leader().await;
    for i in 0..5 {
        let name = format!("lost{i}");
        created(c.node(leader).propose(user(&name)).await);
        acknowledged.insert(name);
    }
    c.converge().await;
    let term = c.node(leader).status().term;
    c.kill(leader).await;
    lose_last_entries(&c.dirs[leader as usize - 1], 5).await;
    c.restart(leader).await;
    for id in (1..=3).filter(|id| *id != leader) {
        let s = c.node(id).status();
        assert!(
            s.term == term && s.leader == Some(leader),
            "node {id} already moved on (term {} -> {}, leader {:?}): the restart took longer \
             than an election, so this run shows nothing",
            term,
            s.term,
            s.leader
        );
    }
    c.wait_leader().await;
    for i in 0..8 {
        let name = format!("after{i}");
        created(c.node(leader).propose(user(&name)).await);
        acknowledged.insert(name);
    }
    c.converge().await;
    for id in 1..=3 {
        let names: std::collections::BTreeSet<String> = c
            .node(id)
            .view()
            .read(|s| s.users().map(|u| u.name.clone()).collect());
        assert_eq!(
            names, acknowledged,
            "node {id} holds every acknowledged user"
        );
    }
}

/// What a power cut does to a leader's entries not yet flushed: the last `n` entries in `dir`
/// are gone, and so is the commit index that covered them.
async fn lose_last_entries(dir: &std::path::Path, n: u64) {
    use openraft::storage::{RaftLogReader, RaftLogStorage};
    let (mut log, _sm) = portunus_raft::store::open(dir).unwrap();
    let last = log.get_log_state().await.unwrap().last_log_id.unwrap();
    let keep = last.index - n;
    let kept = log.try_get_log_entries(keep..=keep).await.unwrap();
    log.truncate(openraft::LogId::new(last.leader_id, keep + 1))
        .await
        .unwrap();
    log.save_committed(Some(kept[0].log_id)).await.unwrap();
}

/// Writes forwarded from followers while the leader goes away are re-sent to the new leader
/// with the same request id: each is applied at most once, and every acknowledged one is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_in_flight_when_the_leader_goes_are_applied_once() {
    let mut c = Cluster::start(3, 5_000).await;
    let old = c.wait_leader().await;
    let followers: Vec<Replica> = (1..=3)
        .filter(|i| *i != old)
        .map(|i| c.node(i).clone())
        .collect();
    let mut writers = Vec::new();
    for (w, node) in followers.into_iter().enumerate() {
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut refused = 0;
            for i in 0..60 {
                let name = format!("w{w}-{i}");
                match node.propose(user(&name)).await {
                    Ok(Response::Created { .. }) => acked.push(name),
                    Ok(other) => panic!("{name}: unexpected answer {other:?}"),
                    Err(ReplicaError::Rejected(r)) => {
                        panic!("{name} was applied twice (re-send rejected: {r})")
                    }
                    Err(_) => refused += 1,
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (acked, refused)
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.kill(old).await;
    let mut acked = Vec::new();
    for w in writers {
        let (a, refused) = w.await.unwrap();
        assert!(refused < 60, "writes resumed after the election");
        acked.extend(a);
    }
    c.restart(old).await;
    c.converge().await;
    for id in 1..=3 {
        let names: Vec<String> = c
            .node(id)
            .view()
            .read(|s| s.users().map(|u| u.name.clone()).collect());
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "node {id}: a write was applied twice"
        );
        for name in &acked {
            assert!(
                names.contains(name),
                "node {id} lost acknowledged write {name}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_added_after_the_log_was_purged_catches_up_by_snapshot() {
    let c = Cluster::start(3, 40).await;
    for i in 0..200 {
        created(c.node(1 + i % 3).propose(user(&format!("u{i}"))).await);
    }
    let leader = c.node(c.wait_leader().await).clone();
    wait_until("the leader to purge its log behind a snapshot", || {
        leader.status().purged_index > 0
    })
    .await;

    let dir = c._dir.path().join("n4");
    let newcomer = Replica::start(
        config(4, dir, 40, c.election_ms),
        "127.0.0.1:0".parse().unwrap(),
        &secret(),
    )
    .await
    .unwrap();
    let info = NodeInfo {
        cluster_addr: newcomer.local_addr().to_string(),
        ..Default::default()
    };
    c.node(2).add_node(4, info).await.unwrap();
    let view = newcomer.view().clone();
    wait_until("the newcomer to hold every user", || {
        view.read(|s| s.users().count()) == 200
    })
    .await;
    let status = newcomer.status();
    assert!(
        status.snapshot_index > 0,
        "caught up by installing a snapshot: {status:?}"
    );
    assert!(
        newcomer.view().snapshot_bytes() > 0,
        "the installed snapshot's size is known"
    );
    assert_eq!(leader.status().nodes.iter().filter(|n| n.voter).count(), 4);
    newcomer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_far_behind_catches_up_by_snapshot() {
    let mut c = Cluster::start(3, 40).await;
    let lagging = if c.wait_leader().await == 3 { 2 } else { 3 };
    c.kill(lagging).await;
    let writer = (1..=3).find(|i| *i != lagging).unwrap();
    for i in 0..200 {
        created(c.node(writer).propose(user(&format!("u{i}"))).await);
    }
    let leader = c.node(c.wait_leader().await).clone();
    wait_until("the leader to purge its log behind a snapshot", || {
        leader.status().purged_index > 0
    })
    .await;
    c.restart(lagging).await;
    c.converge().await;
    let status = c.node(lagging).status();
    assert!(
        status.snapshot_index > 0,
        "caught up by installing a snapshot: {status:?}"
    );
    assert_eq!(c.node(lagging).view().read(|s| s.users().count()), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_without_the_secret_is_refused() {
    let c = Cluster::start(1, 5_000).await;
    let addr = c.addrs[0].to_string();
    let good = ClusterClient::new(&secret()).unwrap();
    assert_eq!(good.status(&addr).await.unwrap().node_id, 1);
    let bad =
        ClusterClient::new(&ClusterSecret::new("some-other-secret-0123456789-ABCDEFGH").unwrap())
            .unwrap();
    assert!(
        bad.status(&addr).await.is_err(),
        "a stranger must not read cluster state"
    );
    assert!(bad.remove_node(&addr, 1).await.is_err(), "nor change it");
    assert_eq!(c.node(1).status().nodes.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recording_stays_readable_after_its_node_dies() {
    let mut c = Cluster::start(3, 5_000).await;
    let recording = b"{\"version\": 2}\n[0.1, \"o\", \"hi\"]\n".to_vec();
    let copies = c
        .node(1)
        .put_blob("recording-7.cast", recording.clone())
        .await
        .unwrap();
    // Answered once a majority held it; the third copy follows in the background.
    assert!(copies >= 2, "{copies} copies");
    let held = |id: usize| c.dirs[id - 1].join("blobs/recording-7.cast").exists();
    wait_until("every member to hold a copy", || (1..=3).all(held)).await;
    c.kill(1).await;
    for id in [2, 3] {
        assert_eq!(
            c.node(id).get_blob("recording-7.cast").await,
            Some(recording.clone())
        );
    }
    assert!(c.node(2).get_blob("recording-8.cast").await.is_none());
    c.kill(3).await;
    let lonely = c.node(2).put_blob("recording-9.cast", b"x".to_vec()).await;
    assert!(
        matches!(lonely, Err(ReplicaError::NoQuorum(_))),
        "{lonely:?}"
    );
}

/// A voter that is down or cut off (here an address that swallows every packet, so a call to
/// it ends only at the connection's 5 s idle timeout) must not hold back blobs: each store
/// answers once the two running members hold it, and a member without a copy reads it from
/// the other running one without waiting for the silent one, which it asks first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_member_holds_back_neither_storing_nor_reading_a_blob() {
    let dir = tempfile::tempdir().unwrap();
    // Bound and never read: nothing sent to it is ever answered.
    let hole = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut voters: BTreeMap<u64, NodeInfo> = BTreeMap::new();
    let info = |addr: SocketAddr| NodeInfo {
        cluster_addr: addr.to_string(),
        ..Default::default()
    };
    voters.insert(1, info(hole.local_addr().unwrap()));
    let mut nodes = Vec::new();
    for id in 2..=3u64 {
        let cfg = config(id, dir.path().join(format!("n{id}")), 5_000, (100, 200));
        let r = Replica::start(cfg, portunus_test_ports::free_addr(), &secret())
            .await
            .unwrap();
        voters.insert(id, info(r.local_addr()));
        nodes.push(r);
    }
    for r in &nodes {
        r.initialize(voters.clone()).await.unwrap();
    }
    wait_until("nodes 2 and 3 to agree on a leader", || {
        let leaders: Vec<Option<u64>> = nodes.iter().map(|r| r.status().leader).collect();
        leaders[0].is_some() && leaders[0] == leaders[1]
    })
    .await;
    let blob = |i: usize| (format!("recording-{i}.cast"), vec![b'x'; 1_000 + i]);
    let stores = async {
        let mut copies = Vec::new();
        for i in 0..5 {
            let (name, data) = blob(i);
            copies.push(nodes[0].put_blob(&name, data).await);
        }
        copies
    };
    // Five stores that waited for member 1 would take 25 s; each takes a round trip to node 3.
    let copies = tokio::time::timeout(Duration::from_secs(4), stores)
        .await
        .expect("the stores waited for the silent member");
    for (i, c) in copies.into_iter().enumerate() {
        assert_eq!(c.unwrap(), 2, "store {i}");
    }
    // Node 3 loses its copy of blob 0 (a disk replaced, say): it asks member 1 first, which
    // never answers, then node 2 half a second later.
    std::fs::remove_file(dir.path().join("n3/blobs/recording-0.cast")).unwrap();
    let read = tokio::time::timeout(
        Duration::from_secs(4),
        nodes[1].get_blob("recording-0.cast"),
    )
    .await
    .expect("the read waited for the silent member");
    assert_eq!(read, Some(blob(0).1));
    for i in 1..5 {
        let (name, data) = blob(i);
        assert_eq!(nodes[1].get_blob(&name).await, Some(data), "{name}");
    }
    assert_eq!(nodes[1].get_blob("recording-9.cast").await, None);
    drop(hole);
}
