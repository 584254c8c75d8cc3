//! The repo directory: `identity.key` (the node's private key) and `config.toml`.

use crate::config::{Config, DEFAULT_CONFIG_TOML};
use anyhow::{Context, Result, anyhow, bail};
use rhizo_core::identity::Keypair;
use rhizo_core::identity::keypair::ED25519_PRIVATE_KEY_PROTO_LEN;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The private key's file name in the repo.
pub const IDENTITY_FILE: &str = "identity.key";
/// The config's file name in the repo.
pub const CONFIG_FILE: &str = "config.toml";

/// An opened repo: its directory, settings and key.
#[derive(Debug)]
pub struct Repo {
    /// The directory.
    pub dir: PathBuf,
    /// The settings of `config.toml`.
    pub config: Config,
    /// The key of `identity.key`.
    pub keypair: Keypair,
}

/// `$HOME/.rhizo`, the repo when neither `--repo` nor `RHIZO_REPO` names one.
pub fn default_dir() -> Result<PathBuf> {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home).join(".rhizo")),
        _ => bail!(
            "cannot find the home directory (HOME is not set): pass --repo DIR or set RHIZO_REPO"
        ),
    }
}

impl Repo {
    /// Opens the repo at `dir`, creating the directory, a new identity and a default config
    /// where they are missing.
    pub fn open_or_init(dir: &Path) -> Result<Repo> {
        create_dir(dir)?;
        let keypair = load_or_create_identity(&dir.join(IDENTITY_FILE))?;
        let config = load_or_create_config(&dir.join(CONFIG_FILE))?;
        Ok(Repo {
            dir: dir.to_owned(),
            config,
            keypair,
        })
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| {
        format!(
            "cannot create the repo directory {}: choose another with --repo DIR or RHIZO_REPO",
            dir.display()
        )
    })?;
    if !dir.is_dir() {
        bail!(
            "the repo {} is not a directory: choose another with --repo DIR or RHIZO_REPO",
            dir.display()
        );
    }
    Ok(())
}

/// Writes `contents` to a new file at `path` with the unix permissions `mode`; fails if the
/// file exists, so two first runs at once cannot overwrite each other's key.
fn create_new(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn load_or_create_identity(path: &Path) -> Result<Keypair> {
    match fs::read(path) {
        Ok(bytes) => decode_identity(path, &bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow!("the OS random source failed: {e}"))?;
            let keypair = Keypair::from_seed(seed);
            let mut buf = [0u8; ED25519_PRIVATE_KEY_PROTO_LEN];
            let encoded = keypair
                .encode_private_key(&mut buf)
                .map_err(|e| anyhow!("encoding the new key: {e}"))?;
            match create_new(path, encoded, 0o600) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "created a new identity");
                    Ok(keypair)
                }
                // Another rhizo made it in the meantime: use that one.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    decode_identity(path, &fs::read(path).with_context(|| read_error(path))?)
                }
                Err(e) => Err(e).with_context(|| {
                    format!("cannot write the new identity to {}", path.display())
                }),
            }
        }
        Err(e) => Err(e).with_context(|| read_error(path)),
    }
}

fn read_error(path: &Path) -> String {
    format!("cannot read the identity {}", path.display())
}

fn decode_identity(path: &Path, bytes: &[u8]) -> Result<Keypair> {
    let keypair = Keypair::decode_private_key(bytes).map_err(|e| {
        anyhow!(
            "{} is not a valid libp2p Ed25519 private key ({e}): restore it from a backup, or \
             move it away to make a new identity (with a new PeerId)",
            path.display()
        )
    })?;
    #[cfg(unix)]
    if let Ok(meta) = fs::metadata(path) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the private key is readable by other users: run `chmod 600` on it"
            );
        }
    }
    Ok(keypair)
}

fn load_or_create_config(path: &Path) -> Result<Config> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            match create_new(path, DEFAULT_CONFIG_TOML.as_bytes(), 0o644) {
                // AlreadyExists: another rhizo wrote it in the meantime; read that one.
                Err(e) if e.kind() != ErrorKind::AlreadyExists => {
                    return Err(e).with_context(|| {
                        format!("cannot write the default config to {}", path.display())
                    });
                }
                _ => {}
            }
            fs::read_to_string(path)
                .with_context(|| format!("cannot read the config {}", path.display()))?
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read the config {}", path.display()));
        }
    };
    Config::from_toml(&text).map_err(|e| {
        anyhow!(
            "the config {} is invalid: {e}fix it, or delete it to get the default one back",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_creates_and_later_runs_reuse() {
        let dir = tempfile::tempdir().unwrap();
        let repo_dir = dir.path().join("nested/repo");
        let first = Repo::open_or_init(&repo_dir).unwrap();
        let second = Repo::open_or_init(&repo_dir).unwrap();
        assert_eq!(first.keypair.public(), second.keypair.public());
        let bytes = fs::read(repo_dir.join(IDENTITY_FILE)).unwrap();
        assert_eq!(bytes.len(), ED25519_PRIVATE_KEY_PROTO_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = fs::metadata(repo_dir.join(IDENTITY_FILE)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_key_and_bad_config_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(IDENTITY_FILE), b"garbage").unwrap();
        let err = format!("{:#}", Repo::open_or_init(dir.path()).unwrap_err());
        assert!(
            err.contains("not a valid libp2p Ed25519 private key"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(CONFIG_FILE), "listen = 3").unwrap();
        let err = format!("{:#}", Repo::open_or_init(dir.path()).unwrap_err());
        assert!(err.contains("config"), "{err}");
    }
}
