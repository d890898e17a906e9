//! Concurrency slots across three in-process nodes: the cluster-wide limit holds under
//! concurrent admissions from every node, and a node that dies loses its slots within seconds,
//! fenced so that it cannot use them when it comes back.

use portunus_model::{
    AssetRef, ClusterSettings, Command, EndReason, NewToken, Protocol, Rejection, Response,
    TokenAccount,
};
use portunus_node::testing::{authorized_host_account, node_config, three_nodes, wait_for};
use portunus_node::RunningNode;
use portunus_raft::ReplicaError;
use std::time::{Duration, Instant};

/// Create a user with an authorized host account and `n` single-use tokens for it.
async fn tokens(node: &RunningNode, n: u8) -> Vec<[u8; 32]> {
    let r = &node.replica;
    let (user_id, host_id, account_id) =
        authorized_host_account(node, "alice", "db-01", "10.0.0.9").await;
    let mut out = Vec::new();
    for i in 0..n {
        let token_hash = [i + 1; 32];
        let t = NewToken {
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
        };
        assert!(matches!(
            r.propose(Command::IssueToken(t)).await,
            Ok(Response::TokenIssued(_))
        ));
        out.push(token_hash);
    }
    out
}

fn spend(node: &RunningNode, token_hash: [u8; 32]) -> Command {
    Command::SpendToken {
        token_hash,
        node_id: node.config.node_id,
        node_epoch: node.epoch(),
        client_addr: "127.0.0.1:40000".into(),
        protocol: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cluster_wide_limit_holds_under_concurrent_admissions() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let settings = ClusterSettings {
        max_sessions_total: 4,
        ..Default::default()
    };
    nodes[0]
        .replica
        .propose(Command::UpdateSettings(settings))
        .await
        .unwrap();
    let hashes = tokens(&nodes[0], 12).await;
    let mut tasks = Vec::new();
    for (i, h) in hashes.into_iter().enumerate() {
        let node = &nodes[i % 3];
        let (r, cmd) = (node.replica.clone(), spend(node, h));
        tasks.push(tokio::spawn(async move { r.propose(cmd).await }));
    }
    let (mut opened, mut limited) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(Response::SessionOpened(_)) => opened += 1,
            Err(ReplicaError::Rejected(Rejection::ConcurrencyLimit { .. })) => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((opened, limited), (4, 8), "exactly the limit is admitted");
    let in_use = nodes[1]
        .replica
        .read_linearizable(|s| s.slots_in_use())
        .await
        .unwrap();
    assert_eq!(in_use, 4);
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_nodes_slots_are_reclaimed_and_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, peers) = three_nodes(dir.path()).await;
    let hashes = tokens(&nodes[0], 2).await;
    // Node 3 holds a session (its slot), then dies without giving it back.
    let victim = nodes.pop().unwrap();
    let opened = victim
        .replica
        .propose(spend(&victim, hashes[0]))
        .await
        .unwrap();
    let Response::SessionOpened(grant) = opened else {
        panic!("{opened:?}")
    };
    let old_epoch = victim.epoch();
    victim.stop().await;

    let started = Instant::now();
    let view = nodes[0].replica.view().clone();
    wait_for(
        "the dead node's slot to be reclaimed",
        Duration::from_secs(15),
        || view.read(|s| s.slots_in_use()) == 0,
    )
    .await;
    let took = started.elapsed();
    eprintln!("slot reclaimed {took:?} after the node died");
    let reason = view.read(|s| s.session(grant.session_id).and_then(|x| x.end_reason));
    assert_eq!(reason, Some(EndReason::NodeLost));

    // The node comes back: its old epoch is fenced off.
    // In one process the old endpoint's UDP socket is released asynchronously: retry briefly.
    let mut back = None;
    let mut last = String::new();
    for _ in 0..100 {
        match portunus_node::start(node_config(3, dir.path(), &peers)).await {
            Ok(n) => {
                back = Some(n);
                break;
            }
            Err(e) if format!("{e:#}").contains("in use") => {
                last = format!("{e:#}");
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("{e:#}"),
        }
    }
    let back = back.unwrap_or_else(|| panic!("node 3 did not restart: {last}"));
    let close = Command::CloseSession {
        session_id: grant.session_id,
        node_id: 3,
        node_epoch: old_epoch,
        reason: EndReason::Normal,
        bytes_up: 0,
        bytes_down: 0,
        events: None,
    };
    let refused = back.replica.propose(close).await;
    assert!(
        matches!(
            refused,
            Err(ReplicaError::Rejected(Rejection::StaleNodeEpoch { .. }))
        ),
        "{refused:?}"
    );
    back.stop().await;
    for n in nodes {
        n.stop().await;
    }
}

/// A session the replicated state shows open on a node whose gateway never held it (here
/// admitted directly through the replica, as when a spend commits after its login gave up) is
/// closed by that node as `NotAdmitted`, so its slot does not stay taken for nothing and its
/// token use comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_its_node_does_not_hold_is_closed_and_its_slot_freed() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let hashes = tokens(&nodes[0], 1).await;
    let holder = &nodes[1];
    let opened = holder.replica.propose(spend(holder, hashes[0])).await;
    let Ok(Response::SessionOpened(grant)) = opened else {
        panic!("{opened:?}")
    };
    let in_use = nodes[0]
        .replica
        .read_linearizable(|s| s.slots_in_use())
        .await;
    assert_eq!(in_use.unwrap(), 1);
    let view = nodes[0].replica.view().clone();
    let started = Instant::now();
    wait_for(
        "the orphaned session to be closed",
        Duration::from_secs(30),
        || view.read(|s| s.slots_in_use()) == 0,
    )
    .await;
    eprintln!("orphaned session closed {:?} later", started.elapsed());
    let reason = view.read(|s| s.session(grant.session_id).and_then(|x| x.end_reason));
    // The gateway never held it (the spend was proposed around it): no one logged in, so the
    // token's one use comes back and the token works again.
    assert_eq!(reason, Some(EndReason::NotAdmitted));
    let token = view.read(|s| s.token_by_hash(&hashes[0]).map(|t| (t.uses, t.count_left)));
    assert_eq!(token, Some((0, 1)), "(uses, count left) after the refund");
    let again = holder.replica.propose(spend(holder, hashes[0])).await;
    assert!(matches!(again, Ok(Response::SessionOpened(_))), "{again:?}");
    for n in nodes {
        n.stop().await;
    }
}
