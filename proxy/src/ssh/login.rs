//! Parsing of the SSH login name: `user`, or `user@account@asset` to name the target directly.

/// A target named in the login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedTarget {
    pub account: String,
    pub asset: String,
}

/// A parsed login name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The bastion user, as given to the gate.
    pub user: String,
    /// The target, when the login names one.
    pub target: Option<NamedTarget>,
}

impl Login {
    /// Splits on `@` from the left: the first part is the user, the second the account, the rest
    /// (which may itself contain `@`) the asset. `user@account` without an asset is refused.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let mut parts = raw.splitn(3, '@');
        let user = parts.next().unwrap_or_default();
        if user.is_empty() {
            return Err("empty user name; log in as user or user@account@asset");
        }
        match (parts.next(), parts.next()) {
            (None, _) => Ok(Self {
                user: user.into(),
                target: None,
            }),
            (Some(account), Some(asset)) if !account.is_empty() && !asset.is_empty() => Ok(Self {
                user: user.into(),
                target: Some(NamedTarget {
                    account: account.into(),
                    asset: asset.into(),
                }),
            }),
            _ => Err("log in as user or user@account@asset"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_targeted_logins() {
        assert_eq!(
            Login::parse("alice").unwrap(),
            Login {
                user: "alice".into(),
                target: None
            }
        );
        let login = Login::parse("alice@root@web-01").unwrap();
        assert_eq!(login.user, "alice");
        assert_eq!(
            login.target,
            Some(NamedTarget {
                account: "root".into(),
                asset: "web-01".into()
            })
        );
        let login = Login::parse("alice@root@db@prod").unwrap();
        assert_eq!(login.target.unwrap().asset, "db@prod");
    }

    #[test]
    fn refuses_incomplete_logins() {
        assert!(Login::parse("alice@root").is_err());
        assert!(Login::parse("@root@web").is_err());
        assert!(Login::parse("alice@@web").is_err());
        assert!(Login::parse("alice@root@").is_err());
    }
}
