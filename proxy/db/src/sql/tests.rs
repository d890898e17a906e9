use super::rules::{Matcher, RuleSpec, Rules};
use super::*;

fn verbs(sql: &str) -> (String, String, bool, Vec<String>) {
    let s = shape(sql).unwrap();
    (s.verb, s.object_kind, s.has_where, s.tables)
}

#[test]
fn shapes_see_through_comments_quotes_and_with_clauses() {
    assert_eq!(
        verbs("  /* hi */ -- x\n drop TABLE IF EXISTS `shop`.`items`"),
        (
            "DROP".into(),
            "TABLE".into(),
            false,
            vec!["shop.items".into()]
        )
    );
    assert_eq!(
        verbs("/*!40101 DROP */ TABLE t"),
        ("DROP".into(), "TABLE".into(), false, vec!["t".into()])
    );
    assert_eq!(
        verbs("WITH x AS (SELECT 1 FROM a WHERE b) DELETE FROM t"),
        (
            "DELETE".into(),
            "FROM".into(),
            false,
            vec!["a".into(), "t".into()]
        )
    );
    assert!(!verbs("UPDATE t SET a = 'WHERE'").2);
    assert!(verbs("UPDATE t SET a = 1 WHERE id = 2").2);
    assert!(verbs("DELETE FROM t WHERE id IN (SELECT 1)").2);
    assert!(!verbs("DELETE FROM t LIMIT 1").2);
    assert_eq!(
        verbs("SELECT * FROM a x, hr.b AS y JOIN c ON 1 WHERE 1").3,
        vec!["a", "hr.b", "c"]
    );
    assert_eq!(verbs("TRUNCATE salaries").3, vec!["salaries"]);
    assert_eq!(verbs("DROP DATABASE hr").3, vec!["hr.*"]);
    assert_eq!(verbs("SELECT $$;DROP$$").0, "SELECT");
}

#[test]
fn requests_split_at_top_level_semicolons_only() {
    assert_eq!(
        split("SELECT ';'; DROP TABLE t ;; /* ; */ SELECT 2").unwrap(),
        vec!["SELECT ';'", "DROP TABLE t", "/* ; */ SELECT 2"]
    );
    assert!(split("SELECT 'open").is_err());
    assert!(split("SELECT 1 /* open").is_err());
    assert!(split("SELECT 1 /*! open").is_err());
}

fn rules(m: Matcher) -> Rules {
    Rules::new(
        &[RuleSpec {
            name: "r".into(),
            matcher: m,
        }],
        false,
    )
}

#[test]
fn verb_rules_catch_every_statement_of_a_request() {
    let r = rules(Matcher::Verbs(vec!["drop".into(), "GRANT".into()]));
    assert!(r.check("SELECT 1", None).is_ok());
    let b = r.check("SELECT 1;\n  Drop table x", None).unwrap_err();
    assert_eq!(b.rule, "r");
    assert!(b.reason.contains("DROP is not allowed"), "{}", b.reason);
    assert!(r.check("/*!50000 GRANT */ ALL ON *.* TO x", None).is_err());
    assert!(r.check("SELECT 'drop table'", None).is_ok());
    let only_db = rules(Matcher::Verbs(vec!["DROP DATABASE".into()]));
    assert!(only_db.check("DROP TABLE t", None).is_ok());
    assert!(only_db.check("drop database shop", None).is_err());
}

#[test]
fn without_where_tables_and_patterns() {
    let r = rules(Matcher::WithoutWhere);
    assert!(r.check("DELETE FROM t", None).is_err());
    assert!(r.check("update t set a=1", None).is_err());
    assert!(r.check("DELETE FROM t WHERE id = 1", None).is_ok());
    assert!(r.check("SELECT * FROM t", None).is_ok());
    let r = rules(Matcher::Tables(vec!["hr.*".into(), "*.salaries".into()]));
    assert!(r.check("SELECT * FROM hr.people", None).is_err());
    assert!(r.check("SELECT * FROM people", Some("HR")).is_err());
    assert!(r.check("SELECT * FROM people", Some("shop")).is_ok());
    assert!(r.check("SELECT * FROM salaries", None).is_err());
    assert!(r.check("SELECT * FROM `shop`.`salaries`", None).is_err());
    let r = rules(Matcher::Regex(r"into\s+outfile".into()));
    assert!(r
        .check("SELECT * FROM t INTO OUTFILE '/tmp/x'", None)
        .is_err());
    let bad = rules(Matcher::Regex("(".into()));
    assert!(bad.check("SELECT 1", None).is_err());
}

#[test]
fn unreadable_statements_are_refused_unless_allowed_and_no_rules_means_no_parsing() {
    let r = rules(Matcher::WithoutWhere);
    let b = r.check("SELECT 'x", None).unwrap_err();
    assert!(b.reason.contains("cannot read"), "{}", b.reason);
    let lenient = Rules::new(
        &[RuleSpec {
            name: "r".into(),
            matcher: Matcher::WithoutWhere,
        }],
        true,
    );
    assert!(lenient.check("SELECT 'x", None).is_ok());
    assert!(Rules::default().check("SELECT 'x", None).is_ok());
}

#[test]
fn globs() {
    use super::rules::glob_match;
    assert!(glob_match("hr.*", "hr.people"));
    assert!(!glob_match("hr.*", "hrx.people"));
    assert!(glob_match("*.sal?ries", "x.salaries"));
    assert!(glob_match("*", ""));
    assert!(!glob_match("a", "ab"));
}

#[test]
fn postgresql_strings_keep_backslashes_and_comments_nest() {
    let pg = super::Dialect::PostgreSql;
    // With standard_conforming_strings 'C:\' is a whole string; MySQL reads it as unterminated.
    assert_eq!(
        split_in(r"SELECT 'C:\'; DROP TABLE t", pg).unwrap(),
        [r"SELECT 'C:\'", "DROP TABLE t"]
    );
    assert!(split(r"SELECT 'C:\'; DROP TABLE t").is_err());
    // E'' strings escape.
    assert_eq!(
        split_in(r"SELECT E'it\'s;'; SELECT 2", pg).unwrap(),
        [r"SELECT E'it\'s;'", "SELECT 2"]
    );
    assert_eq!(
        split_in("SELECT 1 /* a /* b; */ c; */; DROP TABLE t", pg).unwrap(),
        ["SELECT 1 /* a /* b; */ c; */", "DROP TABLE t"]
    );
    assert!(split_in("SELECT 1 /* a /* b */", pg).is_err());
    // '#' is an operator, not a comment.
    assert_eq!(
        split_in("SELECT 1 # 2; DROP TABLE t", pg).unwrap(),
        ["SELECT 1 # 2", "DROP TABLE t"]
    );
    let rules = Rules::new(
        &[RuleSpec {
            name: "no-drop".into(),
            matcher: Matcher::Verbs(vec!["DROP".into()]),
        }],
        false,
    )
    .in_dialect(pg);
    assert!(rules.check(r"SELECT 'C:\'; DROP TABLE t", None).is_err());
    assert!(rules.check(r"SELECT 'C:\'", None).is_ok());
}
