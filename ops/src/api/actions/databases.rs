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
            opt("InstanceMemberId", Ty::Str),
            opt("SourceInstanceRegionId", Ty::Str),
            opt("PolarDBEndpointType", Ty::Str),
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
            opt("ActiveAddressType", Ty::Str),
            opt("Comment", Ty::Str),
            opt("NetworkDomainId", Ty::Id),
            opt("SourceInstanceId", Ty::Str),
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

/// Why a PolarDB endpoint type is refused.
const NO_POLARDB_ENDPOINT: &str = "PolarDBEndpointType: Portunus reaches a database at the one \
     address it is registered with and chooses no PolarDB cluster or primary endpoint; give \
     that endpoint's address and leave it out";

/// Why the address of the inactive type is refused.
const ONE_ADDRESS: &str = "a database has one address, the one ActiveAddressType names: give \
     DatabasePrivateAddress or DatabasePublicAddress, not both";

/// Why a database account's schema is refused.
const NO_ACCOUNT_SCHEMA: &str = "DatabaseSchema: a database account keeps no default schema; \
     name it when issuing the O&M token (GenerateAssetOperationToken DatabaseSchema) or in the \
     client";

/// Why an Oracle logon attribute is refused.
const NO_LOGIN_ATTRIBUTE: &str = "LoginAttribute: it chooses an Oracle SERVICE_NAME or SID \
     logon, and the database gateway serves MySQL and PostgreSQL only; leave it out";

/// Why ModifyDatabase refuses a source instance.
const SOURCE_FIXED: &str = "SourceInstanceId: a database's source instance is recorded when \
     it is added (CreateDatabase) and is not changed afterwards; leave it out";

/// The address of a database: the one of the active type (Private when `active` is None and
/// only a public one is not given). The address of the other type may not be given as well.
fn the_address(c: &Call, active: Option<AddressType>) -> Result<Option<&str>, ApiError> {
    let (private, public) = (
        c.p.opt("DatabasePrivateAddress"),
        c.p.opt("DatabasePublicAddress"),
    );
    let (chosen, other) = match active {
        Some(AddressType::Private) => (private, public),
        Some(AddressType::Public) => (public, private),
        None => match (private, public) {
            (Some(a), Some(b)) if a != b => return Err(ApiError::Inapplicable(ONE_ADDRESS)),
            (a, b) => (a.or(b), None),
        },
    };
    match other {
        Some(o) if Some(o) != chosen => Err(ApiError::Inapplicable(ONE_ADDRESS)),
        _ => Ok(chosen),
    }
}

fn port(c: &Call) -> Result<Option<u16>, ApiError> {
    match c.p.num::<u16>("DatabasePort")? {
        Some(0) => Err(ApiError::invalid("DatabasePort", "expected 1 to 65535")),
        other => Ok(other),
    }
}

async fn create(c: &Call) -> ApiResult {
    let p = &c.p;
    p.only("InstanceMemberId", &[], views::NO_MEMBER_ACCOUNT)?;
    p.only("SourceInstanceRegionId", &[], views::NO_SOURCE_REGION)?;
    p.only("PolarDBEndpointType", &[], NO_POLARDB_ENDPOINT)?;
    let active = parse_address("ActiveAddressType", p.req("ActiveAddressType")?)?;
    let address =
        the_address(c, Some(active))?.ok_or(ApiError::MissingParameter(match active {
            AddressType::Private => "DatabasePrivateAddress",
            AddressType::Public => "DatabasePublicAddress",
        }))?;
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
    p.only("SourceInstanceId", &[], SOURCE_FIXED)?;
    let active = p
        .opt("ActiveAddressType")
        .map(|v| parse_address("ActiveAddressType", v))
        .transpose()?;
    let domain_id = p.opt_id("NetworkDomainId")?;
    let patch = DatabasePatch {
        name: p.opt("DatabaseName").map(str::to_string),
        address: the_address(c, active)?.map(str::to_string),
        port: port(c)?,
        comment: p.string("Comment"),
    };
    c.propose(Command::UpdateDatabase { database_id, patch })
        .await?;
    if let Some(domain_id) = domain_id {
        let database_ids = vec![database_id];
        let domain_id = Some(domain_id);
        let cmd = Command::MoveDatabasesToNetworkDomain {
            domain_id,
            database_ids,
        };
        c.propose(cmd).await?;
    }
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
    p.only("DatabaseSchema", &[], NO_ACCOUNT_SCHEMA)?;
    p.only("LoginAttribute", &[], NO_LOGIN_ATTRIBUTE)?;
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
    c.p.only("DatabaseSchema", &[], NO_ACCOUNT_SCHEMA)?;
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
