//! Whether what the target printed right before the engineer typed is a password prompt.
//! Decided on the prompt's last line as it stands (escape sequences removed), by its end: a
//! colon, after words that ask for a secret. A shell prompt that merely *contains* the text
//! typed later (`[root@vm ~]#` before the password `root@vm`) does not count.

/// Words that, in the last line before the colon, ask for a secret (compared in lower case).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passphrase",
    "passcode",
    "verification code",
    "one-time",
    "otp",
    "token code",
    "secret",
    "passwort",
    "mot de passe",
    "contraseña",
    "senha",
    "пароль",
    "密码",
    "口令",
    "パスワード",
];

/// A word asking for a secret that must stand alone ("PIN", not "ping" or "spinner").
const SECRET_WORDS_WHOLE: &[&str] = &["pin"];

/// True if `line`, the last line the target printed, ends like a password, passphrase, PIN or
/// one-time code prompt: `Password:`, `[sudo] password for x:`, `Enter passphrase for key
/// '/root/.ssh/id_ed25519':`, `Enter PIN for 'token':`, `Verification code:`.
pub(crate) fn is_password_prompt(line: &str) -> bool {
    let line = line.trim_end();
    let Some(body) = line
        .strip_suffix(':')
        .or_else(|| line.strip_suffix('：'))
        .or_else(|| line.strip_suffix(": "))
    else {
        return false;
    };
    let body = body.to_lowercase();
    SECRET_WORDS.iter().any(|w| body.contains(w))
        || body
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| SECRET_WORDS_WHOLE.contains(&word))
}

#[cfg(test)]
mod tests {
    use super::is_password_prompt;

    #[test]
    fn password_prompts_are_recognised_by_their_end() {
        for prompt in [
            "Password:",
            "Password: ",
            "[sudo] password for alice: ",
            "Enter passphrase for key '/root/.ssh/id_ed25519': ",
            "Enter passphrase (empty for no passphrase): ",
            "Verification code: ",
            "Enter PIN for 'PIV Card Holder pin (PIV_II)': ",
            "Password for 'https://alice@git.example.com': ",
            "Enter password: ",
            "(current) UNIX password: ",
            "Retype new password: ",
            "One-time password (OATH) for `root': ",
            "[sudo] 密码：",
            "Passwort: ",
        ] {
            assert!(is_password_prompt(prompt), "{prompt:?}");
        }
    }

    #[test]
    fn other_lines_are_not_password_prompts() {
        for line in [
            "",
            "[root@vm ~]# ",
            "root@vm:~$ ",
            "alice@password-vault:~$ ",
            "Password changed successfully.",
            "password:ok and more",
            "Enter file in which to save the key (/root/.ssh/id_ed25519): ",
            "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
            "ping statistics:",
            "Username for 'https://git.example.com': ",
            "mysql> ",
        ] {
            assert!(!is_password_prompt(line), "{line:?}");
        }
    }
}
