use super::Global;
use anyhow::Result;
use std::path::PathBuf;

/// Create a new Ed25519 signing key (secret key mode 0600, public key beside it as FILE.pub)
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit keygen\n  exhibit keygen --out ci/signing.key\n\nThe secret key is never printed. Back it up: records signed with it stay verifiable without it, but no new record can be signed for the archive without a trusted key."
)]
pub struct Args {
    /// Where to write the secret key [default: --key, EXHIBIT_KEY or ~/.config/exhibit/signing.key]
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace an existing key
    #[arg(long)]
    force: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let path = a.out.unwrap_or_else(|| g.key_path());
    let key = exhibit::keys::generate()?;
    exhibit::keys::save(&path, &key, a.force)?;
    let public = key.verifying_key();
    println!("{}", exhibit::keys::key_id(&public));
    eprintln!(
        "wrote secret key {} (mode 0600) and public key {}",
        super::esc(&path.display().to_string()),
        super::esc(&exhibit::keys::public_path(&path).display().to_string())
    );
    Ok(0)
}
