//! The native MySQL port's connection ids and the `KILL`s that name them, across the cluster.
//!
//! A client on the native port is greeted with the gateway's connection id, which names the
//! serving node ([`NodeIds`]), not with its database's thread id. A `KILL [QUERY] <id>` (the
//! `mysql` client's Ctrl-C sends one on a new connection, which a load balancer may send to
//! another node) is translated into the database's thread id by the node that serves the
//! session, after three checks against the asking session: the same bastion user, the same
//! database account, the same database. The asking session then sends the translated `KILL`
//! through its own connection: the same account at the same database, so the database allows
//! it without any privilege. Anything else is refused, so a client can never kill another
//! engineer's statement through a shared hosted account.

use super::NodeIds;
use crate::gate::BoxFuture;
use portunus_db::mysql::session::ThreadLookup;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The MySQL error a refused `KILL` gets: its code and words.
pub type KillRefusal = (u16, String);

/// Who asks for (or owns) a session's thread: the bastion user, the database account and the
/// database's address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ThreadOwner {
    pub user: String,
    pub account: String,
    pub host: String,
    pub port: u16,
}

/// Asks another node for the database thread id of one of its sessions (the cluster's
/// connections).
pub trait ThreadRouter: Send + Sync + 'static {
    /// Node `node_id`'s answer for its session `id` asked by `asker`: the thread id, or the
    /// refusal it words; Err when the node could not be asked (the reason).
    fn thread(
        &self,
        node_id: u64,
        id: u64,
        asker: ThreadOwner,
    ) -> BoxFuture<'_, Result<Result<u64, KillRefusal>, String>>;
}

/// This node's native MySQL sessions by the connection id each client was greeted with, and
/// each one's thread id at its database.
pub struct MySqlThreads {
    ids: NodeIds,
    by_id: Mutex<HashMap<u32, Thread>>,
}

struct Thread {
    /// None until the session is admitted.
    owner: Option<ThreadOwner>,
    thread: Option<u32>,
}

fn unknown(id: u64) -> KillRefusal {
    (1094, format!("Unknown thread id: {id}"))
}

impl MySqlThreads {
    pub fn new(node_id: u64) -> MySqlThreads {
        MySqlThreads {
            ids: NodeIds::new(node_id),
            by_id: Default::default(),
        }
    }

    /// A connection id for a new client, not held by a session still open (the counter wraps
    /// after about a million), kept until the handle is dropped. `router` reaches the other
    /// nodes' sessions; None: a `KILL` of another node's session is refused.
    pub(crate) fn allocate(
        self: &Arc<Self>,
        router: Option<Arc<dyn ThreadRouter>>,
    ) -> SessionThread {
        let mut m = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let mut id = self.ids.next();
        for _ in 0..64 {
            if !m.contains_key(&id) {
                break;
            }
            id = self.ids.next();
        }
        let thread = Thread {
            owner: None,
            thread: None,
        };
        m.insert(id, thread);
        SessionThread {
            threads: self.clone(),
            router,
            id,
            owner: None,
        }
    }

    /// The database thread id of this node's session `id`, if `asker` may kill it: the same
    /// bastion user and database account (else 1095), the same database (else 1094); 1094
    /// too for an id no session of this node holds or one not connected yet.
    pub fn thread_for(&self, id: u64, asker: &ThreadOwner) -> Result<u64, KillRefusal> {
        let found = u32::try_from(id).ok().and_then(|id| {
            let m = self.by_id.lock().ok()?;
            m.get(&id).and_then(|t| Some((t.owner.clone()?, t.thread)))
        });
        let Some((owner, thread)) = found else {
            return Err(unknown(id));
        };
        if owner.user != asker.user || owner.account != asker.account {
            return Err((1095, format!("You are not owner of thread {id}")));
        }
        if (&owner.host, owner.port) != (&asker.host, asker.port) {
            let words = format!("Thread {id} is a session to another database than this one");
            return Err((1094, words));
        }
        thread.map(u64::from).ok_or_else(|| unknown(id))
    }
}

/// One client's entry in [`MySqlThreads`], removed when dropped.
pub(crate) struct SessionThread {
    threads: Arc<MySqlThreads>,
    router: Option<Arc<dyn ThreadRouter>>,
    pub(crate) id: u32,
    owner: Option<ThreadOwner>,
}

impl SessionThread {
    /// The client was admitted under `permit`.
    pub(crate) fn admit(&mut self, permit: &crate::gate::Permit) {
        let owner = ThreadOwner {
            user: permit.user_name.clone(),
            account: permit.account_name.clone(),
            host: permit.address.clone(),
            port: permit.port,
        };
        if let Ok(mut m) = self.threads.by_id.lock() {
            if let Some(t) = m.get_mut(&self.id) {
                t.owner = Some(owner.clone());
            }
        }
        self.owner = Some(owner);
    }

    /// The thread of another node's session `id`, asked of that node.
    async fn elsewhere(&self, id: u64, me: ThreadOwner) -> Result<u64, KillRefusal> {
        let node = NodeIds::node_of(id);
        let Some(router) = &self.router else {
            return Err((1094, format!("Unknown thread id: {id} (it names a session of bastion node {node}, which this node cannot ask)")));
        };
        match router.thread(node, id, me).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::info!(id, node, error = %e, "mysql: KILL not passed to the serving node");
                Err((
                    1429,
                    format!("Thread {id} is a session of bastion node {node}, which could not be asked: {e}"),
                ))
            }
        }
    }
}

impl Drop for SessionThread {
    fn drop(&mut self) {
        if let Ok(mut m) = self.threads.by_id.lock() {
            m.remove(&self.id);
        }
    }
}

impl portunus_db::mysql::session::Threads for SessionThread {
    fn connected(&self, thread: u32) {
        if let Ok(mut m) = self.threads.by_id.lock() {
            if let Some(t) = m.get_mut(&self.id) {
                t.thread = Some(thread);
            }
        }
    }

    fn thread(&self, id: u64) -> ThreadLookup<'_> {
        Box::pin(async move {
            let Some(me) = self.owner.clone() else {
                return Err(unknown(id));
            };
            if self.threads.ids.is_mine(id) {
                return self.threads.thread_for(id, &me);
            }
            self.elsewhere(id, me).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portunus_db::mysql::session::Threads;

    fn owner(user: &str, port: u16) -> ThreadOwner {
        ThreadOwner {
            user: user.into(),
            account: "app".into(),
            host: "127.0.0.1".into(),
            port,
        }
    }

    /// Answers as node 2 would, holding session `id` of `owner` at thread 77.
    struct Node2 {
        threads: Arc<MySqlThreads>,
    }

    impl ThreadRouter for Node2 {
        fn thread(
            &self,
            node_id: u64,
            id: u64,
            asker: ThreadOwner,
        ) -> BoxFuture<'_, Result<Result<u64, KillRefusal>, String>> {
            Box::pin(async move {
                match node_id {
                    2 => Ok(self.threads.thread_for(id, &asker)),
                    n => Err(format!("no member {n}")),
                }
            })
        }
    }

    fn admitted(
        threads: &Arc<MySqlThreads>,
        router: Option<Arc<dyn ThreadRouter>>,
        who: &ThreadOwner,
    ) -> SessionThread {
        let mut t = threads.allocate(router);
        t.owner = Some(who.clone());
        if let Ok(mut m) = threads.by_id.lock() {
            m.get_mut(&t.id).unwrap().owner = Some(who.clone());
        }
        t
    }

    #[tokio::test]
    async fn a_kill_of_another_nodes_session_is_asked_of_that_node_with_the_same_checks() {
        let node2 = Arc::new(MySqlThreads::new(2));
        let judy = owner("judy", 3306);
        let running = admitted(&node2, None, &judy);
        running.connected(77);
        let id = u64::from(running.id);
        assert_eq!(NodeIds::node_of(id), 2);
        let router: Arc<dyn ThreadRouter> = Arc::new(Node2 {
            threads: node2.clone(),
        });
        let node1 = Arc::new(MySqlThreads::new(1));
        let again = admitted(&node1, Some(router.clone()), &judy);
        assert_eq!(again.thread(id).await, Ok(77));
        let karl = admitted(&node1, Some(router.clone()), &owner("karl", 3306));
        assert_eq!(karl.thread(id).await.map_err(|e| e.0), Err(1095));
        let elsewhere = admitted(&node1, Some(router.clone()), &owner("judy", 3307));
        assert_eq!(elsewhere.thread(id).await.map_err(|e| e.0), Err(1094));
        assert_eq!(again.thread(id + 1).await.map_err(|e| e.0), Err(1094));
        // A node that cannot be asked: refused, saying so.
        let on_node3 = u64::from(MySqlThreads::new(3).ids.next());
        let (code, words) = again.thread(on_node3).await.unwrap_err();
        assert_eq!(code, 1429);
        assert!(
            words.contains("bastion node 3, which could not be asked: no member 3"),
            "{words}"
        );
        // Without a router, another node's session is unknown here.
        let alone = admitted(&node1, None, &judy);
        assert_eq!(alone.thread(id).await.map_err(|e| e.0), Err(1094));
        // The session gone, its id is unknown.
        drop(running);
        assert_eq!(again.thread(id).await.map_err(|e| e.0), Err(1094));
    }
}
