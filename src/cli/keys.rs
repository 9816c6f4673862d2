use super::{esc, Global};
use anyhow::Result;
use exhibit::trust::{Anchor, Introduced, StatusKind};
use std::path::{Path, PathBuf};

/// List the archive's keys (ID, status, how each came in, PEM, verifier key); rotate, add,
/// retire or mark keys compromised
#[derive(clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  exhibit keys\n  exhibit keys --json\n  exhibit keys rotate --reason \"yearly rotation\"\n  exhibit keys add colleague.key.pub\n  exhibit --key ci.key keys retire 52ef03b1d0c954b5 --reason \"laptop replaced\"\n  exhibit --key ci.key keys compromised 52ef03b1d0c954b5 --since 2026-11-01T00:00:00Z\n\nEvery change is a key record in the log, signed with --key (a key of the archive that may still sign), so the log alone says which keys sign for the archive, and a verifier who pins one key follows what that key signed. `keys rotate` makes a new default key and hands over to it in one step; pins of the old key keep working. Records a retired key signed before stay valid; a compromised key's signatures from --since on, or appended after the compromise record, fail. A key cannot mark itself compromised."
)]
pub struct Args {
    /// One JSON object per key (ID, status, how it came in, PEM, raw key, verifier key)
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Make a new signing key, hand over to it (signed by the current key) and install it as the
    /// default key; the old secret key is kept beside it
    Rotate {
        /// Why, recorded in the signed key records
        #[arg(long)]
        reason: Option<String>,
    },
    /// Add a public key (PEM) as a key of the archive, signed by --key
    Add {
        /// The public key file (PEM), e.g. new.key.pub from `exhibit keygen`
        public_key: PathBuf,
        /// Why, recorded in the signed key record
        #[arg(long)]
        reason: Option<String>,
    },
    /// Stop a key from signing anything new; what it signed before stays valid
    Retire {
        /// The key ID (16 hex digits, as `exhibit keys` lists it)
        key_id: String,
        /// Why, recorded in the signed key record
        #[arg(long)]
        reason: Option<String>,
    },
    /// Mark a key compromised: its signatures from --since on fail verification
    Compromised {
        /// The key ID (16 hex digits, as `exhibit keys` lists it)
        key_id: String,
        /// From when the key can no longer be trusted (RFC 3339)
        #[arg(long, value_name = "RFC3339")]
        since: String,
        /// Why, recorded in the signed key record
        #[arg(long)]
        reason: Option<String>,
    },
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    match a.action {
        None => list(g, a.json),
        Some(Action::Rotate { reason }) => rotate(g, reason),
        Some(Action::Add { public_key, reason }) => {
            let archive = g.open()?;
            let key = exhibit::keys::read_public(&public_key)?;
            let signer = exhibit::keys::load(&g.key_path())?;
            let m = exhibit::ops::keys::add(&archive, &signer, &key, reason)?;
            println!(
                "{}  key {} is now a key of the archive (log index {}), added by key {}",
                esc(&m.record_id),
                exhibit::keys::key_id(&key),
                m.log_index,
                m.signer
            );
            Ok(0)
        }
        Some(Action::Retire { key_id, reason }) => {
            status(g, &key_id, StatusKind::Retired, None, reason)
        }
        Some(Action::Compromised {
            key_id,
            since,
            reason,
        }) => status(g, &key_id, StatusKind::Compromised, Some(since), reason),
    }
}

fn status(
    g: &Global,
    key_id: &str,
    kind: StatusKind,
    since: Option<String>,
    reason: Option<String>,
) -> Result<i32> {
    let archive = g.open()?;
    let signer = exhibit::keys::load(&g.key_path())?;
    let m =
        exhibit::ops::keys::set_status(&archive, &signer, key_id, kind, since.as_deref(), reason)?;
    println!(
        "{}  key {} is now {} (log index {})",
        esc(&m.record_id),
        esc(key_id),
        match kind {
            StatusKind::Compromised => "marked compromised",
            _ => "retired",
        },
        m.log_index
    );
    Ok(0)
}

/// `P` -> `P.retired-<id>`, and the same for `P.pub`.
fn retired_path(p: &Path, id: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(format!(".retired-{id}"));
    PathBuf::from(s)
}

fn next_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".next");
    PathBuf::from(s)
}

/// Rotation, crash-safe: the new key is written beside the old one first (`KEY.next`), the
/// hand-over is committed, then the files are renamed. Run again after a crash, it finishes the
/// renames of a hand-over that was committed.
fn rotate(g: &Global, reason: Option<String>) -> Result<i32> {
    use exhibit::keys;
    let archive = g.open()?;
    let path = g.key_path();
    let next = next_path(&path);
    let old = keys::load(&path)?;
    let old_id = keys::key_id(&old.verifying_key());
    let trust = archive.trust(&Anchor::Archive)?;
    let pending = if next.exists() {
        Some(keys::load(&next)?)
    } else {
        None
    };
    let new = match pending {
        // A hand-over to the waiting key was committed; only the renames are left.
        Some(k) if trust.book.rotated_to(&old_id) == Some(keys::key_id(&k.verifying_key())) => k,
        Some(k) => {
            let (new_id, _) = (keys::key_id(&k.verifying_key()), ());
            exhibit::ops::keys::rotate(&archive, &old, &k, reason)?;
            eprintln!(
                "note: used the key waiting at {} ({new_id})",
                esc(&next.display().to_string())
            );
            k
        }
        None => {
            let k = keys::generate()?;
            keys::save(&next, &k, false)?;
            exhibit::ops::keys::rotate(&archive, &old, &k, reason)?;
            k
        }
    };
    let new_id = keys::key_id(&new.verifying_key());
    let retired = retired_path(&path, &old_id);
    let io = |what: &str, p: &Path, e: std::io::Error| exhibit::Error::io(what, p, e);
    std::fs::rename(&path, &retired).map_err(|e| io("move", &path, e))?;
    let _ = std::fs::rename(keys::public_path(&path), keys::public_path(&retired));
    std::fs::rename(&next, &path).map_err(|e| io("move", &next, e))?;
    std::fs::rename(keys::public_path(&next), keys::public_path(&path))
        .map_err(|e| io("move", &keys::public_path(&next), e))?;
    println!("rotated: key {old_id} handed over to key {new_id} (both records signed by {old_id})");
    println!(
        "new signing key: {} (public key {}); the old one is kept at {}",
        esc(&path.display().to_string()),
        esc(&keys::public_path(&path).display().to_string()),
        esc(&retired.display().to_string())
    );
    println!("pins: a verifier or CI that pins {old_id} keeps working (the old key signed the hand-over); to pin the new key as well, add:");
    println!(
        "  --trusted-key {}",
        esc(&keys::public_path(&path).display().to_string())
    );
    for line in keys::public_pem(&new.verifying_key()).lines() {
        println!("  {line}");
    }
    Ok(0)
}

fn list(g: &Global, json: bool) -> Result<i32> {
    let archive = g.open()?;
    let trust = archive.trust(&Anchor::Archive)?;
    let book = &trust.book;
    for k in book.keys() {
        // The strongest status a key has: compromised outranks retired.
        let strongest = k
            .statuses
            .iter()
            .find(|s| s.kind == StatusKind::Compromised)
            .or(k.statuses.first());
        let status = strongest.map(|s| match s.kind {
            StatusKind::Compromised => format!(
                "compromised since {} (record {})",
                exhibit::manifest::format_time(s.since),
                s.record
            ),
            _ => match book.rotated_to(&k.id) {
                Some(new) => format!("retired: rotated to {new} (record {})", s.record),
                None => format!("retired (record {})", s.record),
            },
        });
        let introduced = match &k.introduced {
            Introduced::Root if trust.founded => "founding key".to_string(),
            Introduced::Root => "key file in keys/ (archive made before keys were logged)".into(),
            Introduced::Added { index, record, by } if by == &k.id => {
                format!("founding key (record {record}, log index {index})")
            }
            Introduced::Added { index, record, by } => {
                format!("added by key {by} (record {record}, log index {index})")
            }
        };
        let pem = exhibit::keys::public_pem(k.key());
        let vkey = exhibit::note::verifier_key(&archive.config.origin, k.key());
        if json {
            super::print_json(&serde_json::json!({
                "id": k.id, "algorithm": "ed25519", "status": status.clone().unwrap_or("active".into()),
                "introduced": introduced,
                "public_key_pem": pem,
                "public_key_hex": hex::encode(k.key().as_bytes()),
                "verifier_key": vkey,
            }))?;
        } else {
            println!(
                "{}  {}  {}",
                esc(&k.id),
                esc(status.as_deref().unwrap_or("active")),
                esc(&introduced)
            );
            println!("  verifier key: {}", esc(&vkey));
            for line in pem.lines() {
                println!("  {}", esc(line));
            }
        }
    }
    Ok(0)
}
