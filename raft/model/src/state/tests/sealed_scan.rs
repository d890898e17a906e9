//! `State::sealed_values` is written by hand; these tests fail when a sealed field is added to
//! the model without being listed there (a re-seal would then skip it, and a key rotation would
//! leave it under a destroyed key).
//!
//! Two checks that only pass together:
//! - **every sealed field of the state's types** is found from the types themselves (serde
//!   reflection walks `State`'s format: every field whose type holds a `Sealed`, through
//!   options, lists and maps), and the fixture below must hold a value in each of them, marked
//!   with the field's name;
//! - **every sealed value in a serialized state** (found by scanning the bytes for the marker)
//!   must be one that `sealed_values` lists, and the other way round.

use super::Fx;
use crate::command::Command;
use crate::common::{AssetRef, AssetSource, Protocol};
use crate::database::{
    DbEngine, DomainKind, NetworkDomainSpec, NetworkProxy, NewDatabase, NewDatabaseAccount,
};
use crate::sealed::Sealed;
use crate::settings::DirectorySettings;
use crate::state::State;
use crate::token::{NewToken, TokenAccount};
use serde_reflection::{ContainerFormat, Format, Named, Tracer, TracerConfig, VariantFormat};
use std::collections::BTreeSet;

const MARK: &str = "SEALED-MARKER:";

/// A sealed value marked with the place (`Type.field`) it is put in.
fn marked(place: &str) -> Sealed {
    Sealed(format!("{MARK}{place};").into_bytes())
}

/// Every sealed field the state's types have, as `Type.field` (`Enum.Variant.field` inside an
/// enum's variants), found through serde reflection.
fn sealed_fields() -> BTreeSet<String> {
    let mut tracer = Tracer::new(TracerConfig::default());
    let traced = (|| -> serde_reflection::Result<()> {
        tracer.trace_simple_type::<State>()?;
        // Enums are traced one variant per pass; each nested enum is named once so that all
        // of its variants are seen. A new enum in the state makes `registry()` fail below,
        // naming it: add it here.
        tracer.trace_simple_type::<TokenAccount>()?;
        tracer.trace_simple_type::<crate::Response>()?;
        tracer.trace_simple_type::<crate::Rejection>()?;
        tracer.trace_simple_type::<crate::SessionAccount>()?;
        tracer.trace_simple_type::<crate::UiLanguage>()?;
        tracer.trace_simple_type::<crate::DelegationKind>()?;
        tracer.trace_simple_type::<AssetRef>()?;
        tracer.trace_simple_type::<crate::host::AddressType>()?;
        tracer.trace_simple_type::<crate::host::OsType>()?;
        tracer.trace_simple_type::<AssetSource>()?;
        tracer.trace_simple_type::<DbEngine>()?;
        tracer.trace_simple_type::<crate::policy::AssetScope>()?;
        tracer.trace_simple_type::<crate::policy::ListMode>()?;
        tracer.trace_simple_type::<crate::policy::UserScope>()?;
        tracer.trace_simple_type::<crate::policy::Accounts>()?;
        tracer.trace_simple_type::<crate::policy::AccountNames>()?;
        tracer.trace_simple_type::<crate::approval::ApprovalState>()?;
        tracer.trace_simple_type::<crate::ticket::TicketState>()?;
        tracer.trace_simple_type::<DomainKind>()?;
        tracer.trace_simple_type::<crate::EndReason>()?;
        tracer.trace_simple_type::<crate::ids::EntityKind>()?;
        tracer.trace_simple_type::<crate::rejection::LimitScope>()?;
        tracer.trace_simple_type::<crate::authz::Principal>()?;
        tracer.trace_simple_type::<Protocol>()?;
        tracer.trace_simple_type::<crate::settings::ResourceRef>()?;
        tracer.trace_simple_type::<crate::Role>()?;
        tracer.trace_simple_type::<crate::sql_rule::SqlMatcher>()?;
        tracer.trace_simple_type::<crate::user::TwoFactorMethod>()?;
        tracer.trace_simple_type::<crate::user::UserSource>()?;
        tracer.trace_simple_type::<crate::DatabaseTargetTls>()?;
        tracer.trace_simple_type::<crate::TwoFactorStatus>()?;
        Ok(())
    })();
    traced.expect("tracing the state's types");
    let registry = match tracer.registry() {
        Ok(r) => r,
        Err(e) => panic!(
            "the state's types are not fully traced ({e}); add the enum it names to \
             sealed_fields() with trace_simple_type"
        ),
    };
    let mut out = BTreeSet::new();
    for (name, container) in &registry {
        let fields = |out: &mut BTreeSet<String>, prefix: String, named: &[Named<Format>]| {
            for f in named {
                if holds_sealed(&f.value) {
                    out.insert(format!("{prefix}.{}", f.name));
                }
            }
        };
        match container {
            ContainerFormat::Struct(named) => fields(&mut out, name.clone(), named),
            ContainerFormat::Enum(variants) => {
                for v in variants.values() {
                    match &v.value {
                        VariantFormat::Struct(named) => {
                            fields(&mut out, format!("{name}.{}", v.name), named)
                        }
                        VariantFormat::NewType(f) if holds_sealed(f) => {
                            out.insert(format!("{name}.{}", v.name));
                        }
                        VariantFormat::Tuple(fs) if fs.iter().any(holds_sealed) => {
                            out.insert(format!("{name}.{}", v.name));
                        }
                        _ => {}
                    }
                }
            }
            ContainerFormat::NewTypeStruct(f) if name != "Sealed" && holds_sealed(f) => {
                out.insert(name.clone());
            }
            ContainerFormat::TupleStruct(fs) if fs.iter().any(holds_sealed) => {
                out.insert(name.clone());
            }
            _ => {}
        }
    }
    assert!(
        registry.contains_key("Sealed"),
        "the trace reaches the sealed type"
    );
    out
}

/// Whether a field's format holds a `Sealed` itself (through options, lists, maps, tuples;
/// a field holding another named type is that type's business).
fn holds_sealed(f: &Format) -> bool {
    match f {
        Format::TypeName(n) => n == "Sealed",
        Format::Option(inner) | Format::Seq(inner) => holds_sealed(inner),
        Format::Map { key, value } => holds_sealed(key) || holds_sealed(value),
        Format::Tuple(fs) => fs.iter().any(holds_sealed),
        Format::TupleArray { content, .. } => holds_sealed(content),
        _ => false,
    }
}

/// A state with a value in every sealed field, each marked with its field's name.
pub(super) fn populated() -> Fx {
    let mut fx = Fx::new();
    let (alice, host, account) = fx.granted("alice");
    let acc = fx.st.host_accounts.get_mut(&account).expect("account");
    acc.password = Some(marked("HostAccount.password"));
    acc.private_key = Some(marked("HostAccount.private_key"));
    fx.created(Command::CreateSharedKey {
        name: "k".into(),
        private_key: marked("SharedKey.private_key"),
        fingerprint: "SHA256:x".into(),
        comment: String::new(),
    });
    let db = fx.created(Command::CreateDatabase(NewDatabase {
        name: "orders".into(),
        engine: DbEngine::MySql,
        address: "10.0.0.9".into(),
        port: 3306,
        source: AssetSource::Local,
        source_instance_id: String::new(),
        comment: String::new(),
        network_domain_id: None,
        project_id: None,
    }));
    fx.created(Command::CreateDatabaseAccount(NewDatabaseAccount {
        database_id: db,
        name: "app".into(),
        password: Some(marked("DatabaseAccount.password")),
        comment: String::new(),
    }));
    let issued = fx.run(Command::IssueToken(NewToken {
        database_schema: None,
        mysql_native: None,
        pg_scram: None,
        issued_by: None,
        token_hash: [7; 32],
        user_id: alice,
        asset: AssetRef::Host(host),
        account: TokenAccount::Custom {
            name: "root".into(),
            password: Some(marked("TokenAccount.Custom.password")),
        },
        protocol: Protocol::Ssh,
        validity_secs: None,
        use_count: None,
    }));
    assert!(
        matches!(issued, crate::Response::TokenIssued(_)),
        "{issued:?}"
    );
    fx.run(Command::SetSshHostKey {
        key: marked("State.ssh_host_key"),
        only_if_absent: true,
    });
    fx.run(Command::CreateAccessKey {
        access_key_id: "AK".into(),
        secret: marked("AccessKey.secret"),
        role: crate::Role::Admin,
        user_id: None,
        comment: String::new(),
    });
    let directory = |place: &str| DirectorySettings {
        server: "ldap.example".into(),
        port: 389,
        password: Some(marked(place)),
        ..Default::default()
    };
    fx.run(Command::SetLdapSettings(Some(directory(
        "DirectorySettings.password",
    ))));
    fx.run(Command::SetAdSettings(Some(directory(
        "DirectorySettings.password",
    ))));
    fx.run(Command::SetOidcSettings(Some(crate::OidcSettings {
        enabled: true,
        issuer: "https://id.example".into(),
        client_id: "portunus".into(),
        client_secret: Some(marked("OidcSettings.client_secret")),
        ..Default::default()
    })));
    fx.run(Command::EnrollTotp {
        user_id: alice,
        secret: marked("TotpEnrolment.secret"),
        recovery_codes: vec![[3; 32]],
    });
    fx.created(Command::CreateNetworkDomain(NetworkDomainSpec {
        name: "dmz".into(),
        kind: DomainKind::Proxy,
        comment: String::new(),
        proxies: vec![NetworkProxy {
            proxy_type: "SSHProxy".into(),
            address: "10.0.0.2".into(),
            port: 22,
            user: "jump".into(),
            password: Some(marked("NetworkProxy.password")),
            node_type: "Master".into(),
            host_key_fingerprint: None,
        }],
    }));
    fx
}

/// The marked sealed values in `bytes`: (place, the whole marker).
fn markers_in(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices(MARK)
        .filter_map(|(at, _)| {
            let rest = &text[at + MARK.len()..];
            rest.find(';').map(|end| rest[..end].to_string())
        })
        .collect()
}

#[test]
fn every_sealed_field_of_the_state_is_populated_by_the_fixture() {
    let fields = sealed_fields();
    let fx = populated();
    let bytes = bincode::serde::encode_to_vec(&fx.st, bincode::config::standard()).expect("encode");
    let found: BTreeSet<String> = markers_in(&bytes).into_iter().collect();
    let unfilled: Vec<&String> = fields.difference(&found).collect();
    assert!(
        unfilled.is_empty(),
        "sealed fields with no value in this test's state: {unfilled:?}. Fill them in \
         populated() (marked with their name) so that the scan below can check that \
         State::sealed_values lists them"
    );
    assert!(fields.len() >= 9, "{fields:?}");
}

#[test]
fn every_sealed_value_in_the_state_is_listed_by_sealed_values() {
    let fx = populated();
    let bytes = bincode::serde::encode_to_vec(&fx.st, bincode::config::standard()).expect("encode");
    let mut in_state = markers_in(&bytes);
    in_state.sort();
    let mut listed: Vec<String> = fx
        .st
        .sealed_values()
        .iter()
        .flat_map(|(_, sealed)| markers_in(&sealed.0))
        .collect();
    listed.sort();
    assert_eq!(
        in_state, listed,
        "a sealed value in the state that State::sealed_values does not list (left) or the \
         other way round (right): list every sealed field there, with a SealedAt place"
    );
    // LDAP and AD each hold one; every other field one.
    assert_eq!(listed.len(), 12, "{listed:?}");
}
