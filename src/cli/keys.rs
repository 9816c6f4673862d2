use super::Global;
use anyhow::Result;
use exhibit::keystatus::StatusKind;

/// List the archive's trusted keys (ID, status, PEM, signed-note verifier key); add, retire or
/// mark keys compromised
#[derive(clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  exhibit keys\n  exhibit keys --json\n  exhibit keys add colleague.key.pub\n  exhibit --key new.key keys retire 52ef03b1d0c954b5 --reason \"yearly rotation\"\n  exhibit --key new.key keys compromised 52ef03b1d0c954b5 --since 2026-11-01T00:00:00Z\n\nRetiring or compromising a key is itself a signed record in the log, made with --key (which must be another trusted key for a compromise). Records a retired key signed before stay valid; a compromised key's signatures from --since on, or appended after the compromise record, fail."
)]
pub struct Args {
    /// One JSON object per key (ID, status, PEM, raw key, verifier key, path)
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Trust a public key (PEM) for this archive
    Add {
        /// The public key file (PEM), e.g. new.key.pub from `exhibit keygen`
        public_key: std::path::PathBuf,
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
        Some(Action::Add { public_key }) => {
            let archive = g.open()?;
            let key = exhibit::keys::read_public(&public_key)?;
            let added = archive.trust_key(&key)?;
            let id = exhibit::keys::key_id(&key);
            println!(
                "{} key {id}",
                if added {
                    "now trusts"
                } else {
                    "already trusts"
                }
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
    let m = exhibit::keystatus::record_status(
        &archive,
        &signer,
        key_id,
        kind,
        since.as_deref(),
        reason,
    )?;
    println!(
        "{}  key {} is now {} (log index {})",
        super::esc(&m.record_id),
        super::esc(key_id),
        match kind {
            StatusKind::Retired => "retired",
            StatusKind::Compromised => "marked compromised",
        },
        m.log_index
    );
    Ok(0)
}

fn list(g: &Global, json: bool) -> Result<i32> {
    let archive = g.open()?;
    let trust = exhibit::verify::TrustRoot::from_archive(&archive)?;
    for k in archive.trusted_keys()? {
        // The strongest status a key has: compromised outranks retired.
        let strongest = trust.statuses.get(&k.id).and_then(|v| {
            v.iter()
                .find(|s| s.kind == StatusKind::Compromised)
                .or(v.first())
        });
        let status = strongest.map(|s| match s.kind {
            StatusKind::Retired => format!("retired (record {})", s.event_record),
            StatusKind::Compromised => format!(
                "compromised since {} (record {})",
                exhibit::manifest::format_time(s.since),
                s.event_record
            ),
        });
        let pem = exhibit::keys::public_pem(&k.key);
        let vkey = exhibit::note::verifier_key(&archive.config.origin, &k.key);
        if json {
            super::print_json(&serde_json::json!({
                "id": k.id, "algorithm": "ed25519", "status": status.clone().unwrap_or("active".into()),
                "public_key_pem": pem,
                "public_key_hex": hex::encode(k.key.as_bytes()),
                "verifier_key": vkey, "path": k.path.display().to_string(),
            }))?;
        } else {
            println!(
                "{}  {}  {}",
                super::esc(&k.id),
                super::esc(status.as_deref().unwrap_or("active")),
                super::esc(&k.path.display().to_string())
            );
            println!("  verifier key: {}", super::esc(&vkey));
            for line in pem.lines() {
                println!("  {}", super::esc(line));
            }
        }
    }
    Ok(0)
}
