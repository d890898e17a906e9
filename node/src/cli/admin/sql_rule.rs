//! `portunus admin sql-rule create|list|delete`: statements the database gateway refuses.

use super::{params, print_json, show_created, show_list, Api};
use clap::Subcommand;

/// `portunus admin sql-rule ...`
#[derive(Subcommand, Debug)]
pub enum SqlRuleCmd {
    /// Create a rule: `sql-rule create no-drop --kind Verb --value DROP --value TRUNCATE`.
    Create {
        name: String,
        /// Verb, WithoutWhere, Table or Regex.
        #[arg(long)]
        kind: String,
        /// A verb (`DROP`, `DROP DATABASE`), a table glob (`hr.*`) or the expression; repeat
        /// for several.
        #[arg(long = "value")]
        values: Vec<String>,
        /// Databases (name or id) it applies to; none: every database.
        #[arg(long = "database")]
        databases: Vec<String>,
        /// Users (name or id) it applies to; none: everyone.
        #[arg(long = "user")]
        users: Vec<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// List the rules.
    List,
    /// Delete a rule by id.
    Delete { id: u64 },
}

pub(super) async fn sql_rule(api: &Api, cmd: SqlRuleCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        SqlRuleCmd::Create {
            name,
            kind,
            values,
            databases,
            users,
            comment,
        } => {
            let mut database_ids = Vec::new();
            for d in &databases {
                database_ids.push(api.database_id(d).await?);
            }
            let mut user_ids = Vec::new();
            for u in &users {
                user_ids.push(api.user_id(u).await?);
            }
            let values = serde_json::to_string(&values)?;
            let database_ids = serde_json::to_string(&database_ids)?;
            let user_ids = serde_json::to_string(&user_ids)?;
            let p = params(&[
                ("Name", Some(&name)),
                ("Kind", Some(&kind)),
                ("Values", Some(&values)),
                ("DatabaseIds", Some(&database_ids)),
                ("UserIds", Some(&user_ids)),
                ("Comment", comment.as_deref()),
            ]);
            let body = api.call("CreateSqlRule", &p).await?;
            show_created(&body, "SQL rule", "SqlRuleId", json)
        }
        SqlRuleCmd::List => {
            let mut items = api.all("ListSqlRules", "SqlRules", &[]).await?;
            for i in &mut items {
                let join = |k: &str| -> String {
                    i[k].as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default()
                };
                let (values, dbs, users) = (join("Values"), join("DatabaseIds"), join("UserIds"));
                i["ValuesText"] = values.into();
                i["Databases"] = if dbs.is_empty() {
                    "all".into()
                } else {
                    dbs.into()
                };
                i["Users"] = if users.is_empty() {
                    "all".into()
                } else {
                    users.into()
                };
            }
            if json {
                return print_json(&serde_json::Value::Array(items));
            }
            let columns = [
                ("ID", "SqlRuleId"),
                ("NAME", "Name"),
                ("KIND", "Kind"),
                ("VALUES", "ValuesText"),
                ("DATABASES", "Databases"),
                ("USERS", "Users"),
                ("ENABLED", "Enabled"),
            ];
            show_list(items, &columns, false)
        }
        SqlRuleCmd::Delete { id } => {
            let id = id.to_string();
            let body = api
                .call("DeleteSqlRule", &params(&[("SqlRuleId", Some(&id))]))
                .await?;
            if json {
                print_json(&body)?;
            } else {
                say!("deleted SQL rule {id}");
            }
            Ok(())
        }
    }
}
