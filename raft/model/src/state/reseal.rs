//! Where every sealed value lives, so that a node can seal them all again under a new key
//! ([`Command::Reseal`], compare-and-swap per value), and the instance's random name.

use super::{Handled, State};
use crate::command::Command;
use crate::response::Response;
use crate::sealed::{Resealed, Sealed, SealedAt};
use crate::token::TokenAccount;

impl State {
    pub(super) fn apply_reseal(&mut self, cmd: &Command) -> Handled {
        match cmd {
            Command::Reseal(items) => Some(Ok(self.reseal(items))),
            Command::EnsureInstanceId { instance_id } => {
                let id = self
                    .instance_id
                    .get_or_insert_with(|| instance_id.clone())
                    .clone();
                Some(Ok(Response::InstanceId { instance_id: id }))
            }
            _ => None,
        }
    }

    /// The instance's name once the first node has chosen it.
    pub fn instance_id(&self) -> Option<&str> {
        self.instance_id.as_deref()
    }

    /// Every sealed value in the state with its place.
    pub fn sealed_values(&self) -> Vec<(SealedAt, &Sealed)> {
        let mut out = Vec::new();
        for (id, a) in &self.host_accounts {
            if let Some(p) = &a.password {
                out.push((SealedAt::HostAccountPassword(*id), p));
            }
            if let Some(k) = &a.private_key {
                out.push((SealedAt::HostAccountPrivateKey(*id), k));
            }
        }
        for (id, k) in &self.shared_keys {
            out.push((SealedAt::SharedKey(*id), &k.private_key));
        }
        for (id, a) in &self.database_accounts {
            if let Some(p) = &a.password {
                out.push((SealedAt::DatabaseAccountPassword(*id), p));
            }
        }
        for (id, t) in &self.tokens {
            if let TokenAccount::Custom {
                password: Some(p), ..
            } = &t.account
            {
                out.push((SealedAt::TokenAccountPassword(*id), p));
            }
        }
        if let Some(k) = &self.ssh_host_key {
            out.push((SealedAt::SshHostKey, k));
        }
        for (id, k) in &self.access_keys {
            out.push((SealedAt::AccessKeySecret(id.clone()), &k.secret));
        }
        if let Some(p) = self.ldap.as_ref().and_then(|d| d.password.as_ref()) {
            out.push((SealedAt::LdapBindPassword, p));
        }
        if let Some(p) = self.ad.as_ref().and_then(|d| d.password.as_ref()) {
            out.push((SealedAt::AdBindPassword, p));
        }
        if let Some(p) = self.oidc.as_ref().and_then(|o| o.client_secret.as_ref()) {
            out.push((SealedAt::OidcClientSecret, p));
        }
        for (id, u) in &self.users {
            if let Some(t) = &u.totp {
                out.push((SealedAt::TotpSecret(*id), &t.secret));
            }
        }
        for (id, d) in &self.network_domains {
            for (index, proxy) in d.spec.proxies.iter().enumerate() {
                if let Some(p) = &proxy.password {
                    let index = u32::try_from(index).unwrap_or(u32::MAX);
                    out.push((SealedAt::NetworkProxyPassword { domain: *id, index }, p));
                }
            }
        }
        out
    }

    /// The sealed value at `at`, mutable.
    fn sealed_at_mut(&mut self, at: &SealedAt) -> Option<&mut Sealed> {
        match at {
            SealedAt::HostAccountPassword(id) => self.host_accounts.get_mut(id)?.password.as_mut(),
            SealedAt::HostAccountPrivateKey(id) => {
                self.host_accounts.get_mut(id)?.private_key.as_mut()
            }
            SealedAt::SharedKey(id) => Some(&mut self.shared_keys.get_mut(id)?.private_key),
            SealedAt::DatabaseAccountPassword(id) => {
                self.database_accounts.get_mut(id)?.password.as_mut()
            }
            SealedAt::TokenAccountPassword(id) => match &mut self.tokens.get_mut(id)?.account {
                TokenAccount::Custom { password, .. } => password.as_mut(),
                _ => None,
            },
            SealedAt::SshHostKey => self.ssh_host_key.as_mut(),
            SealedAt::AccessKeySecret(id) => Some(&mut self.access_keys.get_mut(id)?.secret),
            SealedAt::LdapBindPassword => self.ldap.as_mut()?.password.as_mut(),
            SealedAt::AdBindPassword => self.ad.as_mut()?.password.as_mut(),
            SealedAt::OidcClientSecret => self.oidc.as_mut()?.client_secret.as_mut(),
            SealedAt::NetworkProxyPassword { domain, index } => self
                .network_domains
                .get_mut(domain)?
                .spec
                .proxies
                .get_mut(usize::try_from(*index).ok()?)?
                .password
                .as_mut(),
            SealedAt::TotpSecret(id) => Some(&mut self.users.get_mut(id)?.totp.as_mut()?.secret),
        }
    }

    fn reseal(&mut self, items: &[Resealed]) -> Response {
        let (mut replaced, mut changed_meanwhile) = (0, 0);
        for item in items {
            match self.sealed_at_mut(&item.at) {
                Some(v) if *v == item.old => {
                    *v = item.new.clone();
                    replaced += 1;
                }
                _ => changed_meanwhile += 1,
            }
        }
        Response::Resealed {
            replaced,
            changed_meanwhile,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Request;
    use crate::host::{NewHost, NewHostAccount};
    use crate::Protocol;

    fn apply(st: &mut State, command: Command) -> Response {
        st.apply(&Request {
            id: None,
            now_ms: 1_000,
            command,
        })
    }

    #[test]
    fn reseal_replaces_only_what_is_still_there_and_instance_id_is_kept() {
        let mut st = State::default();
        let Response::Created { id: host } = apply(
            &mut st,
            Command::CreateHost(NewHost {
                name: "h".into(),
                private_address: "10.0.0.1".into(),
                ..Default::default()
            }),
        ) else {
            panic!("host not created")
        };
        let account = NewHostAccount {
            host_id: host,
            name: "root".into(),
            protocol: Protocol::Ssh,
            password: Some(Sealed(vec![1])),
            private_key: None,
            shared_key_id: None,
            sftp_only: false,
        };
        let Response::Created { id: acc } = apply(&mut st, Command::CreateHostAccount(account))
        else {
            panic!("account not created")
        };
        let at = SealedAt::HostAccountPassword(acc);
        assert_eq!(st.sealed_values(), vec![(at.clone(), &Sealed(vec![1]))]);
        let stale = Resealed {
            at: at.clone(),
            old: Sealed(vec![7]),
            new: Sealed(vec![8]),
        };
        let fresh = Resealed {
            at: at.clone(),
            old: Sealed(vec![1]),
            new: Sealed(vec![2]),
        };
        let r = apply(&mut st, Command::Reseal(vec![stale, fresh]));
        assert_eq!(
            r,
            Response::Resealed {
                replaced: 1,
                changed_meanwhile: 1
            }
        );
        assert_eq!(st.sealed_values(), vec![(at, &Sealed(vec![2]))]);

        assert_eq!(st.instance_id(), None);
        for name in ["first", "second"] {
            let r = apply(
                &mut st,
                Command::EnsureInstanceId {
                    instance_id: name.into(),
                },
            );
            assert_eq!(
                r,
                Response::InstanceId {
                    instance_id: "first".into()
                }
            );
        }
    }
}
