//! The secret that signs every session token: it never prints, and the embedded
//! default keeps one in its data folder, created once, readable by the owner only.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// A secret that never prints: `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fresh random secret (256 bits, hex).
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The secret kept in `dir/jwt-secret`, created on first use (readable by the
    /// owner only), so every instance started from this data folder shares it. Safe
    /// when several processes start at once: the file appears whole, once (written
    /// aside, then linked into place, which fails if another process got there first),
    /// and everyone reads the one that won.
    pub fn load_or_create(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join("jwt-secret");
        loop {
            match std::fs::read_to_string(&path) {
                Ok(text) if !text.trim().is_empty() => return Ok(Self(text.trim().to_string())),
                // Left empty by a crash before this scheme: replaced below.
                Ok(_) => std::fs::remove_file(&path)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            chat_store::files::private_dir(dir)?;
            let secret = Self::generate();
            let aside = dir.join(format!(".jwt-secret.{}", uuid::Uuid::new_v4()));
            std::io::Write::write_all(
                &mut chat_store::files::create_private(&aside)?,
                secret.0.as_bytes(),
            )?;
            let placed = std::fs::hard_link(&aside, &path);
            std::fs::remove_file(&aside)?;
            match placed {
                Ok(()) => return Ok(secret),
                // Another process placed its secret first: read that one.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() < 16 {
            return Err("the secret must be at least 16 characters".into());
        }
        Ok(Self(s.to_string()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret: Secret = "a-very-secret-value".parse().unwrap();
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
    }

    #[test]
    fn processes_starting_at_once_agree_on_one_secret_only_the_owner_reads() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let secrets: Vec<Secret> = std::thread::scope(|scope| {
                let starts: Vec<_> = (0..8)
                    .map(|_| scope.spawn(|| Secret::load_or_create(dir.path()).unwrap()))
                    .collect();
                starts.into_iter().map(|s| s.join().unwrap()).collect()
            });
            assert!(secrets.windows(2).all(|w| w[0] == w[1]), "two secrets");
            assert_eq!(Secret::load_or_create(dir.path()).unwrap(), secrets[0]);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode(&dir.path().join("jwt-secret")), 0o600);
            }
            let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
            assert_eq!(leftovers, 1, "nothing left aside");
        }
    }

    #[test]
    fn the_generated_secret_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Secret::load_or_create(dir.path()).unwrap();
        let second = Secret::load_or_create(dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.expose().len(), 64);
    }
}
