//! Databases and database accounts: Create/Get/List/Modify/DeleteDatabase and
//! Create/Get/List/Modify/DeleteDatabaseAccount. Passwords are sealed before proposing.

use crate::api::actions::projects::project_param;
use crate::api::call::{done, found, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, Ty};
use crate::api::views::{self, parse_address, parse_engine, parse_source};
use portunus_model::{
    AddressType, Command, DatabaseAccount, DatabaseAccountPatch, DatabasePatch, EntityKind,
    NewDatabase, NewDatabaseAccount,
};
use serde_json::{json, Value};

/// Sealing purpose of database account passwords.
pub const PASSWORD_PURPOSE: &str = portunus_model::seal_purpose::DATABASE_PASSWORD;

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateDatabase",
        Write,
        create,
        "Adds a database (ProjectId: in that project; else the default one).",
        [
            req("DatabaseName", Ty::Str),
            req("DatabaseType", Ty::Str),
            req("Source", Ty::Str),
            req("DatabasePort", Ty::Int),
            req("ActiveAddressType", Ty::Str),
            opt("DatabasePrivateAddress", Ty::Str),
            opt("DatabasePublicAddress", Ty::Str),
            opt("SourceInstanceId", Ty::Str),
            opt("Comment", Ty::Str),
            opt("NetworkDomainId", Ty::Id),
            opt("ProjectId", Ty::Id),
        ]
    ),
    action!(
        "GetDatabase",
        Read,
        get,
        "Queries a database.",
        [req("DatabaseId", Ty::Id)]
    ),
    action!(
        "ListDatabases",
        Read,
        list,
        "Lists databases (ProjectId: of one project).",
        [
            opt("DatabaseType", Ty::Str),
            opt("Source", Ty::Str),
            opt("HostGroupId", Ty::Id),
            opt("NetworkDomainId", Ty::Id),
            opt("ProjectId", Ty::Id),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "ModifyDatabase",
        Write,
        modify,
        "Changes a database.",
        [
            req("DatabaseId", Ty::Id),
            opt("DatabaseName", Ty::Str),
            opt("DatabasePort", Ty::Int),
            opt("DatabasePrivateAddress", Ty::Str),
            opt("DatabasePublicAddress", Ty::Str),
            opt("Comment", Ty::Str),
        ]
    ),
    action!(
        "DeleteDatabase",
        Write,
        delete,
        "Deletes a database.",
        [req("DatabaseId", Ty::Id)]
    ),
    action!(
        "CreateDatabaseAccount",
        Write,
        create_account,
        "Adds a database account.",
        [
            req("DatabaseId", Ty::Id),
            req("DatabaseAccountName", Ty::Str),
            opt("Password", Ty::Str).secret(),
            opt("DatabaseSchema", Ty::Str),
            opt("LoginAttribute", Ty::Str),
        ]
    ),
    action!(
        "GetDatabaseAccount",
        Read,
        get_account,
        "Queries a database account.",
        [req("DatabaseAccountId", Ty::Id),]
    ),
    action!(
        "ListDatabaseAccounts",
        Read,
        list_accounts,
        "Lists a database's accounts.",
        [
            req("DatabaseId", Ty::Id),
            opt("DatabaseAccountName", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "ModifyDatabaseAccount",
        Write,
        modify_account,
        "Changes a database account.",
        [
            req("DatabaseAccountId", Ty::Id),
            opt("DatabaseAccountName", Ty::Str),
            opt("Password", Ty::Str).secret(),
            opt("DatabaseSchema", Ty::Str),
        ]
    ),
    action!(
        "DeleteDatabaseAccount",
        Write,
        delete_account,
        "Deletes a database account.",
        [req("DatabaseAccountId", Ty::Id),]
    ),
];

fn port(c: &Call) -> Result<Option<u16>, ApiError> {
    match c.p.num::<u16>("DatabasePort")? {
        Some(0) => Err(ApiError::invalid("DatabasePort", "expected 1 to 65535")),
        other => Ok(other),
    }
}

async fn create(c: &Call) -> ApiResult {
    let p = &c.p;
    let active = parse_address("ActiveAddressType", p.req("ActiveAddressType")?)?;
    let address = match active {
        AddressType::Private => p.req("DatabasePrivateAddress")?,
        AddressType::Public => p.req("DatabasePublicAddress")?,
    };
    let new = NewDatabase {
        name: p.req("DatabaseName")?.to_string(),
        engine: parse_engine("DatabaseType", p.req("DatabaseType")?)?,
        address: address.to_string(),
        port: port(c)?.ok_or(ApiError::MissingParameter("DatabasePort"))?,
        source: parse_source("Source", p.req("Source")?)?,
        source_instance_id: p.string("SourceInstanceId").unwrap_or_default(),
        comment: p.string("Comment").unwrap_or_default(),
        network_domain_id: p.opt_id("NetworkDomainId")?,
        project_id: project_param(c, "ProjectId")?,
    };
    let id = c.create(Command::CreateDatabase(new)).await?;
    Ok(one("DatabaseId", id.to_string()))
}

async fn get(c: &Call) -> ApiResult {
    let id = c.p.id("DatabaseId")?;
    let v = c.read(|s| s.database(id).map(views::database)).await?;
    Ok(one("Database", found(v, EntityKind::Database, id)?))
}

async fn list(c: &Call) -> ApiResult {
    let p = &c.p;
    let engine = p
        .opt("DatabaseType")
        .map(|v| parse_engine("DatabaseType", v))
        .transpose()?;
    let source = p
        .opt("Source")
        .map(|v| parse_source("Source", v))
        .transpose()?;
    let (group, domain, paging) = (
        p.opt_id("HostGroupId")?,
        p.opt_id("NetworkDomainId")?,
        p.page()?,
    );
    let project = project_param(c, "ProjectId")?;
    let rows = c
        .read(|s| {
            let members = group.map(|g| {
                s.host_group(g)
                    .map(|g| g.databases.clone())
                    .unwrap_or_default()
            });
            s.databases()
                .filter(|d| {
                    engine.is_none_or(|e| d.engine == e) && source.is_none_or(|x| d.source == x)
                })
                .filter(|d| domain.is_none_or(|x| d.network_domain_id == Some(x)))
                .filter(|d| project.is_none_or(|p| s.database_project(d.id) == Some(p)))
                .filter(|d| members.as_ref().is_none_or(|m| m.contains(&d.id)))
                .map(views::database)
                .collect::<Vec<_>>()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("Databases", items, total))
}

async fn modify(c: &Call) -> ApiResult {
    let p = &c.p;
    let database_id = p.id("DatabaseId")?;
    let patch = DatabasePatch {
        name: p.opt("DatabaseName").map(str::to_string),
        address: p
            .opt("DatabasePrivateAddress")
            .or(p.opt("DatabasePublicAddress"))
            .map(str::to_string),
        port: port(c)?,
        comment: p.string("Comment"),
    };
    c.propose(Command::UpdateDatabase { database_id, patch })
        .await?;
    Ok(done())
}

async fn delete(c: &Call) -> ApiResult {
    let database_id = c.p.id("DatabaseId")?;
    c.propose(Command::DeleteDatabase { database_id }).await?;
    Ok(done())
}

fn account(a: &DatabaseAccount) -> Value {
    json!({
        "DatabaseAccountId": a.id.to_string(), "DatabaseAccountName": a.name,
        "DatabaseId": a.database_id.to_string(), "DatabaseSchema": "",
        "HasPassword": a.password.is_some(), "LoginAttribute": "",
    })
}

async fn create_account(c: &Call) -> ApiResult {
    let p = &c.p;
    let new = NewDatabaseAccount {
        database_id: p.id("DatabaseId")?,
        name: p.req("DatabaseAccountName")?.to_string(),
        password: p
            .opt("Password")
            .map(|v| c.seal(PASSWORD_PURPOSE, v))
            .transpose()?,
        comment: String::new(),
    };
    let id = c.create(Command::CreateDatabaseAccount(new)).await?;
    Ok(one("DatabaseAccountId", id.to_string()))
}

async fn get_account(c: &Call) -> ApiResult {
    let id = c.p.id("DatabaseAccountId")?;
    let v = c.read(|s| s.database_account(id).map(account)).await?;
    Ok(one(
        "DatabaseAccount",
        found(v, EntityKind::DatabaseAccount, id)?,
    ))
}

async fn list_accounts(c: &Call) -> ApiResult {
    let db = c.p.id("DatabaseId")?;
    let name = c.p.opt("DatabaseAccountName").map(str::to_lowercase);
    let paging = c.p.page()?;
    let rows = c
        .read(|s| {
            s.database_accounts_of(db)
                .filter(|a| {
                    name.as_ref()
                        .is_none_or(|n| a.name.to_lowercase().contains(n))
                })
                .map(|a| {
                    let mut v = account(a);
                    // ListDatabaseAccounts models HasPassword as a string.
                    v["HasPassword"] = a.password.is_some().to_string().into();
                    v
                })
                .collect::<Vec<_>>()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("DatabaseAccounts", items, total))
}

async fn modify_account(c: &Call) -> ApiResult {
    let account_id = c.p.id("DatabaseAccountId")?;
    let password =
        c.p.opt("Password")
            .map(|v| c.seal(PASSWORD_PURPOSE, v))
            .transpose()?;
    let patch = DatabaseAccountPatch {
        name: c.p.opt("DatabaseAccountName").map(str::to_string),
        password: password.map(Some),
        comment: None,
    };
    c.propose(Command::UpdateDatabaseAccount { account_id, patch })
        .await?;
    Ok(done())
}

async fn delete_account(c: &Call) -> ApiResult {
    let account_id = c.p.id("DatabaseAccountId")?;
    c.propose(Command::DeleteDatabaseAccount { account_id })
        .await?;
    Ok(done())
}
