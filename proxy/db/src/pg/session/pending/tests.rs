use super::super::super::wire::Fields;
use super::*;
use std::sync::Mutex;

#[derive(Default)]
struct Sink(Mutex<Vec<Statement>>);

impl StatementSink for Sink {
    fn statement(&self, s: Statement) {
        self.0.lock().unwrap().push(s);
    }
}

impl Sink {
    fn outcomes(&self) -> Vec<(&'static str, String, Outcome)> {
        let v = self.0.lock().unwrap();
        v.iter()
            .map(|s| (s.kind, s.text.clone(), s.outcome.clone()))
            .collect()
    }
}

fn audit(kind: &'static str, text: &str) -> Audit {
    Audit::new(kind, text.into(), Vec::new())
}

fn error(code: &str) -> Reply {
    Reply::Error(Fields::new("ERROR", code, "boom"))
}

#[test]
fn a_simple_query_sums_its_results_up_to_ready() {
    let (sink, mut p) = (Sink::default(), Pending::default());
    p.push(Expect::Start);
    p.on_reply(Reply::Aside, 0, &sink);
    p.on_reply(Reply::Ready(b'I'), 0, &sink);
    p.push(Expect::Query(audit("query", "INSERT ..; SELECT ..")));
    p.on_reply(Reply::Complete("INSERT 0 3".into()), 0, &sink);
    p.on_reply(Reply::RowDescription, 0, &sink);
    p.on_reply(Reply::Complete("SELECT 2".into()), 2, &sink);
    assert!(sink.outcomes().is_empty(), "not before ReadyForQuery");
    p.on_reply(Reply::Ready(b'I'), 0, &sink);
    assert_eq!(
        sink.outcomes(),
        [(
            "query",
            "INSERT ..; SELECT ..".into(),
            Outcome::Ok {
                affected: 3,
                rows: 2
            }
        )]
    );
}

#[test]
fn an_extended_error_skips_to_the_sync() {
    let (sink, mut p) = (Sink::default(), Pending::default());
    p.push(Expect::Parse {
        audit: audit("prepare", "SELECT 1/0"),
        named: false,
    });
    p.push(Expect::Bind(audit("bind", "SELECT 1/0")));
    p.push(Expect::Execute(audit("execute", "SELECT 1/0")));
    p.push(Expect::Sync);
    p.push(Expect::Parse {
        audit: audit("prepare", "SELECT 2"),
        named: true,
    });
    p.on_reply(Reply::ParseComplete, 0, &sink);
    p.on_reply(Reply::BindComplete, 0, &sink);
    p.on_reply(error("22012"), 0, &sink);
    p.on_reply(Reply::Ready(b'I'), 0, &sink);
    p.on_reply(Reply::ParseComplete, 0, &sink);
    let sqlerror = Outcome::SqlError {
        sqlstate: "22012".into(),
        message: "boom".into(),
    };
    assert_eq!(
        sink.outcomes(),
        [
            ("execute", "SELECT 1/0".into(), sqlerror),
            (
                "prepare",
                "SELECT 2".into(),
                Outcome::Ok {
                    affected: 0,
                    rows: 0
                }
            )
        ]
    );
}

#[test]
fn refusals_wait_their_turn_and_are_not_sent_while_skipping() {
    let (sink, mut p) = (Sink::default(), Pending::default());
    p.push(Expect::Query(audit("query", "SELECT 1")));
    let refusal = || Expect::Inject {
        bytes: b"E!".to_vec(),
        audit: audit("query", "DROP TABLE t"),
        reason: "rule".into(),
    };
    p.push(refusal());
    assert!(
        p.injections(&sink).is_empty(),
        "the query is answered first"
    );
    p.on_reply(Reply::Complete("SELECT 1".into()), 1, &sink);
    p.on_reply(Reply::Ready(b'I'), 0, &sink);
    assert_eq!(p.injections(&sink), b"E!");
    // Behind a failed Execute the target skips to Sync; the refusal is audited, not sent.
    p.push(Expect::Sync);
    p.on_reply(Reply::Ready(b'I'), 0, &sink);
    p.push(Expect::Execute(audit("execute", "x")));
    p.push(refusal());
    p.push(Expect::Sync);
    p.on_reply(error("42P01"), 0, &sink);
    assert!(p.injections(&sink).is_empty());
    p.on_reply(Reply::Ready(b'I'), 0, &sink);
    let refused = sink
        .outcomes()
        .iter()
        .filter(|o| matches!(o.2, Outcome::Refused { .. }))
        .count();
    assert_eq!(refused, 2);
}

#[test]
fn suspended_portals_count_their_rows_and_a_cut_reports_what_waited() {
    let (sink, mut p) = (Sink::default(), Pending::default());
    p.push(Expect::Execute(audit("execute", "SELECT * FROM t")));
    p.on_reply(Reply::Suspended, 5, &sink);
    p.push(Expect::Execute(audit("execute", "COPY t TO STDOUT")));
    p.on_reply(Reply::CopyOut, 0, &sink);
    p.on_reply(Reply::CopyDone, 0, &sink);
    p.on_reply(Reply::Complete("COPY 4".into()), 0, &sink);
    p.push(Expect::Query(audit("query", "SELECT pg_sleep(9)")));
    p.cut(&sink);
    let o = sink.outcomes();
    assert_eq!(
        o[0].2,
        Outcome::Ok {
            affected: 0,
            rows: 5
        }
    );
    assert_eq!(
        o[1].2,
        Outcome::Ok {
            affected: 0,
            rows: 4
        }
    );
    assert_eq!(o[2].2, Outcome::Cut);
}
