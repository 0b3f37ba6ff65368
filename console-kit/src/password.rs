//! Operator passwords: argon2id PHC strings (a fresh salt from the OS RNG each time), checked on
//! a blocking thread; the lock-out rule after repeated failures; what an operator's name and
//! password must be; and reading a password on the command line (`operator add --role`).

use std::sync::OnceLock;

use anyhow::{Context, bail};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Failed sign-ins in a row that lock an account.
pub const LOCK_AFTER_FAILURES: i64 = 5;
/// How long a locked account stays locked (or until an `operator unlock`).
pub const LOCK_MINUTES: i64 = 15;
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest operator name.
pub const MAX_NAME_CHARS: usize = 64;

/// The argon2id PHC string of a password (a fresh salt from the OS RNG).
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| format!("cannot hash the password: {error}"))
}

/// True when `password` matches the stored PHC string.
pub fn verify_password(password: &str, password_hash: &str) -> bool {
    PasswordHash::new(password_hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// [`verify_password`] on a blocking thread: argon2id is deliberately slow (tens of
/// milliseconds, far more in a debug build), and a burst of sign-ins must not hold the runtime's
/// workers, which also serve the other pages and the service itself.
pub async fn verify_password_off_runtime(password: &str, password_hash: &str) -> bool {
    let (password, password_hash) = (password.to_string(), password_hash.to_string());
    tokio::task::spawn_blocking(move || verify_password(&password, &password_hash))
        .await
        .unwrap_or(false)
}

/// A hash to check unknown names against, so a wrong name costs as long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password").unwrap_or_default())
}

/// An operator's name as stored (trimmed), if it is 1 to [`MAX_NAME_CHARS`] characters without
/// control characters.
pub fn operator_name(name: &str) -> Option<&str> {
    let name = name.trim();
    (!name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.chars().any(char::is_control))
    .then_some(name)
}

/// True when a password is long enough to be accepted.
pub fn password_long_enough(password: &str) -> bool {
    password.chars().count() >= MIN_PASSWORD_CHARS
}

/// Reads a password: the first line of `file`, else twice from the terminal (not echoed), or
/// once from standard input when that is not a terminal.
pub fn read_password(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    let password = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading --password-file {}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        // A script piping the password gives it once; a person types it twice.
        None if !std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            prompt_hidden("Password: ")?
        }
        None => {
            let first = prompt_hidden("Password: ")?;
            let second = prompt_hidden("Again: ")?;
            if first != second {
                bail!("the two passwords differ; nothing was changed");
            }
            first
        }
    };
    Ok(password)
}

/// One line from the terminal with echo off (`stty`), or from standard input when it is not
/// a terminal.
fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let terminal = std::io::stdin().is_terminal();
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    if terminal {
        stty("-echo").context("turning terminal echo off (stty)")?;
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if terminal {
        let _ = stty("echo");
        eprintln!();
    }
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_as_argon2id_and_verify() {
        let hash = hash_password("正确的马电池钉").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("正确的马电池钉", &hash));
        assert!(!verify_password("正确的马电池", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn names_and_passwords_have_rules() {
        assert_eq!(operator_name("  王芳 "), Some("王芳"));
        assert_eq!(operator_name("   "), None);
        assert_eq!(operator_name("a\u{7}b"), None);
        assert_eq!(operator_name(&"名".repeat(MAX_NAME_CHARS + 1)), None);
        assert!(password_long_enough("十个字符的口令是这样的"));
        assert!(!password_long_enough("短口令"));
    }
}
