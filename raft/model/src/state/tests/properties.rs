//! Properties of `State::apply` over random sequences of the commands that spend what the
//! cluster guarantees (token uses, concurrency slots), checked against a simple model after
//! every command: a refused command changes nothing; a count-limited token is never used more
//! than its count, and its uses are exactly the logins the state granted with it (less those
//! closed as never admitted); open
//! sessions never exceed the cluster-wide limit when one is admitted; the state survives its
//! snapshot encoding unchanged; and replaying the same log from empty gives the same state.

use super::Fx;
use crate::command::{Command, Request};
use crate::response::Response;
use crate::session::EndReason;
use crate::state::State;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// What a generated step does.
#[derive(Clone, Debug)]
enum Step {
    /// The cluster-wide session limit (0: none).
    Limit(u32),
    /// Node `n` (re)starts: its sessions end, its slots come back.
    Start(u64),
    /// The leader declares node `n` lost.
    Reclaim(u64),
    /// A token with hash byte `h` and this use count (None: unlimited).
    Issue(u8, Option<u32>),
    /// A login with token `h` through node `n` (at the node's epoch, or a stale one).
    Spend(u8, u64, bool),
    /// A login with the user's own credentials through node `n`.
    Open(u64, bool),
    /// The `i`-th open session (modulo their number) closed by its node (as never admitted
    /// when the flag is set: its node gave up on the login, and its token use comes back).
    Close(usize, bool),
    /// A user named `name-{i}` (a second one with the same name is refused).
    User(u8),
    /// Time passes.
    Wait(u32),
}

fn step() -> impl Strategy<Value = Step> {
    // Logins and closes weigh more, so that tokens get used up and limits reached.
    prop_oneof![
        1 => (0u32..4).prop_map(Step::Limit),
        1 => (1u64..=3).prop_map(Step::Start),
        1 => (1u64..=3).prop_map(Step::Reclaim),
        2 => (0u8..4, proptest::option::of(1u32..4)).prop_map(|(h, n)| Step::Issue(h, n)),
        6 => (0u8..5, 1u64..=3, any::<bool>()).prop_map(|(h, n, s)| Step::Spend(h, n, s)),
        3 => (1u64..=3, any::<bool>()).prop_map(|(n, s)| Step::Open(n, s)),
        3 => (0usize..8, proptest::bool::weighted(0.2)).prop_map(|(i, n)| Step::Close(i, n)),
        1 => (0u8..3).prop_map(Step::User),
        1 => (0u32..120_000).prop_map(Step::Wait),
    ]
}

/// What the model expects of each token: its count (None: unlimited) and the logins granted
/// with it.
#[derive(Default)]
struct Model {
    tokens: BTreeMap<u8, (Option<u32>, u32)>,
    /// How often the guarded paths were reached (see the coverage test below).
    logins: usize,
    used_up: usize,
    over_limit: usize,
    stale: usize,
    refunds: usize,
}

/// The engineer, the host and the account granted to them.
type Granted = (
    crate::ids::UserId,
    crate::ids::HostId,
    crate::ids::HostAccountId,
);

fn check(fx: &mut Fx, model: &mut Model, step: &Step, (user, host, account): Granted) {
    let epoch = |fx: &Fx, n: u64, stale: bool| fx.st.node_epoch(n).saturating_sub(u64::from(stale));
    let mut refund = None;
    let command = match step {
        Step::Limit(n) => {
            let mut s = fx.st.settings().clone();
            s.max_sessions_total = *n;
            Command::UpdateSettings(s)
        }
        Step::Start(n) => Command::NodeStarted { node_id: *n },
        Step::Reclaim(n) => Command::ReclaimNode { node_id: *n },
        Step::Issue(h, uses) => Command::IssueToken(crate::token::NewToken {
            database_schema: None,
            mysql_native: None,
            pg_scram: None,
            issued_by: None,
            token_hash: [*h; 32],
            user_id: user,
            asset: crate::common::AssetRef::Host(host),
            account: crate::token::TokenAccount::Hosted(account),
            protocol: crate::common::Protocol::Ssh,
            validity_secs: None,
            use_count: *uses,
        }),
        Step::Spend(h, n, stale) => Fx::spend_cmd(*h, *n, epoch(fx, *n, *stale)),
        Step::Open(n, stale) => Fx::open_cmd(user, host, account, *n, epoch(fx, *n, *stale)),
        Step::Close(i, never_admitted) => {
            let open: Vec<_> = fx
                .st
                .open_sessions()
                .map(|s| (s.id, s.node_id, s.token_id))
                .collect();
            if open.is_empty() {
                return;
            }
            let (session_id, node_id, token) = open[i % open.len()];
            if *never_admitted {
                refund = token.and_then(|t| fx.st.token(t)).map(|t| t.hash[0]);
            }
            Command::CloseSession {
                session_id,
                node_id,
                node_epoch: fx.st.node_epoch(node_id),
                reason: if *never_admitted {
                    EndReason::NotAdmitted
                } else {
                    EndReason::Normal
                },
                bytes_up: 0,
                bytes_down: 0,
                events: None,
            }
        }
        Step::User(i) => Command::CreateUser(crate::user::NewUser {
            name: format!("name-{i}"),
            ..Default::default()
        }),
        Step::Wait(ms) => {
            fx.now += u64::from(*ms);
            return;
        }
    };
    let before = fx.st.clone();
    let answer = fx.run(command);
    if let Response::Rejected(why) = &answer {
        assert_eq!(
            fx.st, before,
            "{step:?} was refused ({why}) and changed the state"
        );
    }
    match &answer {
        Response::SessionOpened(_) => model.logins += 1,
        Response::Rejected(crate::Rejection::TokenUsedUp) => model.used_up += 1,
        Response::Rejected(crate::Rejection::ConcurrencyLimit { .. }) => model.over_limit += 1,
        Response::Rejected(crate::Rejection::StaleNodeEpoch { .. }) => model.stale += 1,
        _ => {}
    }
    match (step, &answer) {
        (Step::Issue(h, uses), Response::TokenIssued(_)) => {
            model.tokens.insert(*h, (*uses, 0));
        }
        (Step::Spend(h, _, _), Response::SessionOpened(grant)) => {
            let (count, used) = model
                .tokens
                .get_mut(h)
                .expect("a login with an issued token");
            *used += 1;
            if let Some(count) = count {
                assert!(
                    *used <= *count,
                    "token {h} used {used} times, count {count}"
                );
                assert_eq!(grant.count_left, Some(*count - *used), "{grant:?}");
            }
        }
        (Step::Close(..), Response::SessionClosed { .. }) => {
            if let Some((_, used)) = refund.and_then(|h| model.tokens.get_mut(&h)) {
                *used -= 1;
                model.refunds += 1;
            }
        }
        _ => {}
    }
    if matches!(answer, Response::SessionOpened(_)) {
        let limit = fx.st.settings().max_sessions_total;
        assert!(
            limit == 0 || fx.st.slots_in_use() <= limit,
            "{step:?} admitted a session past the limit: {} open, limit {limit}",
            fx.st.slots_in_use()
        );
    }
    for (h, (count, used)) in &model.tokens {
        let token = fx
            .st
            .token_by_hash(&[*h; 32])
            .expect("an issued token stays");
        assert_eq!(token.uses, *used, "token {h}");
        if let Some(count) = count {
            assert!(token.has_count_limit);
            assert_eq!(token.count_left, count - used, "token {h}");
        }
    }
}

fn encode(st: &State) -> Vec<u8> {
    bincode::serde::encode_to_vec(st, bincode::config::standard()).expect("encode")
}

/// A run of `steps` from the fixture's start (an engineer granted a host account, three nodes
/// started); the model it kept.
fn run(steps: &[Step]) -> (Fx, Model) {
    let mut fx = Fx::new();
    let granted = fx.granted("alice");
    for n in 1..=3 {
        fx.start_node(n);
    }
    let mut model = Model::default();
    for step in steps {
        check(&mut fx, &mut model, step, granted);
    }
    (fx, model)
}

/// The generated runs reach what the properties are about: logins granted, tokens used up,
/// admissions refused at the limit, stale node epochs refused, token uses given back.
#[test]
fn the_generated_steps_reach_the_guarded_paths() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let mut total = Model::default();
    let steps = proptest::collection::vec(step(), 1..60);
    for _ in 0..200 {
        let tree = steps.new_tree(&mut runner).expect("steps");
        let (_, m) = run(&tree.current());
        total.logins += m.logins;
        total.used_up += m.used_up;
        total.over_limit += m.over_limit;
        total.stale += m.stale;
        total.refunds += m.refunds;
    }
    assert!(total.logins > 100, "{} logins", total.logins);
    assert!(total.used_up > 10, "{} used-up refusals", total.used_up);
    assert!(total.over_limit > 10, "{} limit refusals", total.over_limit);
    assert!(total.stale > 10, "{} stale-epoch refusals", total.stale);
    assert!(
        total.refunds > 10,
        "{} token uses given back",
        total.refunds
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn apply_keeps_the_guarantees_and_replays_the_same(steps in proptest::collection::vec(step(), 1..60)) {
        let (fx, _) = run(&steps);
        let bytes = encode(&fx.st);
        let (back, _): (State, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).expect("decode");
        prop_assert!(back == fx.st, "the snapshot encoding changed the state");
        let mut replayed = State::default();
        for req in &fx.log {
            let req: &Request = req;
            replayed.apply(req);
        }
        prop_assert!(replayed == fx.st, "replaying the log gave another state");
    }
}

/// A step on named entities: names come from a small pool so that clashes are frequent; ids
/// are picked among the ids created so far (modulo their number), or a missing one.
#[derive(Clone, Debug)]
enum NameStep {
    Create(Named, u8),
    /// Users keep their name; the others can be renamed.
    Rename(Named, usize, u8),
    Delete(Named, usize),
    /// Encode and decode the state, as a snapshot install or a restart does.
    Reload,
}

/// The collections with a name index, and the accounts indexed by their host or database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Named {
    User,
    Group,
    Host,
    Database,
    HostAccount,
    DatabaseAccount,
}

fn named() -> impl Strategy<Value = Named> {
    prop_oneof![
        Just(Named::User),
        Just(Named::Group),
        Just(Named::Host),
        Just(Named::Database),
        Just(Named::HostAccount),
        Just(Named::DatabaseAccount),
    ]
}

fn name_step() -> impl Strategy<Value = NameStep> {
    prop_oneof![
        (named(), 0u8..6).prop_map(|(k, n)| NameStep::Create(k, n)),
        (named(), any::<usize>(), 0u8..6).prop_map(|(k, i, n)| NameStep::Rename(k, i, n)),
        (named(), any::<usize>()).prop_map(|(k, i)| NameStep::Delete(k, i)),
        Just(NameStep::Reload),
    ]
}

/// The command a name step stands for (None: a user rename, which no command does).
fn name_command(step: &NameStep, ids: &BTreeMap<Named, Vec<u64>>) -> Option<Command> {
    let pick = |k: Named, i: usize| match ids.get(&k) {
        Some(ids) if !ids.is_empty() => ids[i % ids.len()],
        _ => 999_999,
    };
    let address = |n: u8| format!("10.0.0.{n}");
    Some(match *step {
        NameStep::Create(Named::User, n) => Command::CreateUser(crate::user::NewUser {
            name: format!("user-{n}"),
            ..Default::default()
        }),
        NameStep::Create(Named::Group, n) => Command::CreateUserGroup {
            name: format!("group-{n}"),
            comment: String::new(),
        },
        NameStep::Create(Named::Host, n) => Command::CreateHost(crate::host::NewHost {
            name: format!("host-{n}"),
            private_address: address(n),
            ..Default::default()
        }),
        NameStep::Create(Named::Database, n) => {
            Command::CreateDatabase(crate::database::NewDatabase {
                name: format!("db-{n}"),
                engine: crate::database::DbEngine::MySql,
                address: address(n),
                port: 3306,
                source: Default::default(),
                source_instance_id: String::new(),
                comment: String::new(),
                network_domain_id: None,
                project_id: None,
            })
        }
        NameStep::Create(Named::HostAccount, n) => {
            Command::CreateHostAccount(crate::host::NewHostAccount {
                host_id: pick(Named::Host, n.into()),
                name: format!("account-{}", n % 3),
                protocol: crate::common::Protocol::Ssh,
                password: None,
                private_key: None,
                shared_key_id: None,
                sftp_only: false,
            })
        }
        NameStep::Create(Named::DatabaseAccount, n) => {
            Command::CreateDatabaseAccount(crate::database::NewDatabaseAccount {
                database_id: pick(Named::Database, n.into()),
                name: format!("account-{}", n % 3),
                password: None,
                comment: String::new(),
            })
        }
        NameStep::Rename(Named::User, ..) | NameStep::Reload => return None,
        NameStep::Rename(Named::HostAccount, i, n) => Command::UpdateHostAccount {
            account_id: pick(Named::HostAccount, i),
            patch: crate::host::HostAccountPatch {
                name: Some(format!("account-{}", n % 3)),
                ..Default::default()
            },
        },
        NameStep::Rename(Named::DatabaseAccount, i, n) => Command::UpdateDatabaseAccount {
            account_id: pick(Named::DatabaseAccount, i),
            patch: crate::database::DatabaseAccountPatch {
                name: Some(format!("account-{}", n % 3)),
                ..Default::default()
            },
        },
        NameStep::Delete(Named::HostAccount, i) => Command::DeleteHostAccount {
            account_id: pick(Named::HostAccount, i),
        },
        NameStep::Delete(Named::DatabaseAccount, i) => Command::DeleteDatabaseAccount {
            account_id: pick(Named::DatabaseAccount, i),
        },
        NameStep::Rename(Named::Group, i, n) => Command::UpdateUserGroup {
            group_id: pick(Named::Group, i),
            name: format!("group-{n}"),
            comment: String::new(),
        },
        NameStep::Rename(Named::Host, i, n) => Command::UpdateHost {
            host_id: pick(Named::Host, i),
            patch: crate::host::HostPatch {
                name: Some(format!("host-{n}")),
                ..Default::default()
            },
        },
        NameStep::Rename(Named::Database, i, n) => Command::UpdateDatabase {
            database_id: pick(Named::Database, i),
            patch: crate::database::DatabasePatch {
                name: Some(format!("db-{n}")),
                ..Default::default()
            },
        },
        NameStep::Delete(Named::User, i) => Command::DeleteUser {
            user_id: pick(Named::User, i),
        },
        NameStep::Delete(Named::Group, i) => Command::DeleteUserGroup {
            group_id: pick(Named::Group, i),
        },
        NameStep::Delete(Named::Host, i) => Command::DeleteHost {
            host_id: pick(Named::Host, i),
        },
        NameStep::Delete(Named::Database, i) => Command::DeleteDatabase {
            database_id: pick(Named::Database, i),
        },
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The name indexes (and the accounts by host or database) answer as a scan of the
    /// collections would, whatever adds, renames and removes came before, and a state decoded from its encoding (indexes not yet built)
    /// answers every command exactly as the running one.
    #[test]
    fn name_indexes_agree_with_the_collections(steps in proptest::collection::vec(name_step(), 1..80)) {
        let mut fx = Fx::new();
        let mut ids: BTreeMap<Named, Vec<u64>> = BTreeMap::new();
        for step in &steps {
            if let NameStep::Reload = step {
                let (back, _): (State, usize) = bincode::serde::decode_from_slice(
                    &encode(&fx.st),
                    bincode::config::standard(),
                )
                .expect("decode");
                fx.st = back;
                continue;
            }
            let Some(command) = name_command(step, &ids) else { continue };
            let mut decoded: State = bincode::serde::decode_from_slice(
                &encode(&fx.st),
                bincode::config::standard(),
            )
            .expect("decode")
            .0;
            let req = Request { now_ms: fx.now, command: command.clone(), id: None };
            let fresh = decoded.apply(&req);
            let answer = fx.run(command);
            prop_assert_eq!(&answer, &fresh, "a decoded state answered otherwise");
            if let (Response::Created { id }, NameStep::Create(kind, _)) = (&answer, step) {
                ids.entry(*kind).or_default().push(*id);
            }
            for u in fx.st.users.values() {
                prop_assert_eq!(fx.st.user_by_name(&u.name).map(|f| f.id), Some(u.id));
            }
            for h in fx.st.hosts.values() {
                prop_assert_eq!(fx.st.host_by_name(&h.name).map(|f| f.id), Some(h.id));
            }
            for d in fx.st.databases.values() {
                prop_assert_eq!(fx.st.database_by_name(&d.name).map(|f| f.id), Some(d.id));
            }
            let scanned: BTreeMap<String, u64> =
                fx.st.users.values().map(|u| (u.name.clone(), u.id)).collect();
            prop_assert_eq!(fx.st.user_ids_by_name(), &scanned);
            let scanned: BTreeMap<String, u64> =
                fx.st.user_groups.values().map(|g| (g.name.clone(), g.id)).collect();
            prop_assert_eq!(fx.st.user_group_ids_by_name(), &scanned);
            let scanned: BTreeMap<String, u64> =
                fx.st.hosts.values().map(|h| (h.name.clone(), h.id)).collect();
            prop_assert_eq!(fx.st.host_ids_by_name(), &scanned);
            let scanned: BTreeMap<String, u64> =
                fx.st.databases.values().map(|d| (d.name.clone(), d.id)).collect();
            prop_assert_eq!(fx.st.database_ids_by_name(), &scanned);
            for h in fx.st.hosts.values() {
                let scanned: Vec<u64> =
                    fx.st.host_accounts.values().filter(|a| a.host_id == h.id).map(|a| a.id).collect();
                let indexed: Vec<u64> = fx.st.host_accounts_of(h.id).map(|a| a.id).collect();
                prop_assert_eq!(indexed, scanned);
            }
            for d in fx.st.databases.values() {
                let scanned: Vec<u64> = fx
                    .st
                    .database_accounts
                    .values()
                    .filter(|a| a.database_id == d.id)
                    .map(|a| a.id)
                    .collect();
                let indexed: Vec<u64> = fx.st.database_accounts_of(d.id).map(|a| a.id).collect();
                prop_assert_eq!(indexed, scanned);
            }
        }
    }
}
