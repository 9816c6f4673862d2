use super::Global;
use anyhow::Result;
use exhibit::archive::Archive;

/// Create the archive (idempotent) and trust the signing key, creating the key if there is none
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit init\n  exhibit --archive /srv/evidence init --origin evidence.example.org/2026\n  exhibit --key ci.key init      # trust a second key (key rotation)"
)]
pub struct Args {
    /// The log's origin line, fixed at creation (printable ASCII, no spaces or '+')
    #[arg(long)]
    origin: Option<String>,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let key = super::load_or_create_key(&g.key_path())?;
    let public = key.verifying_key();
    let (archive, created, added) = Archive::init(&g.archive, a.origin.as_deref(), &key)?;
    let id = exhibit::keys::key_id(&public);
    let dir = super::esc(&g.archive.display().to_string()).into_owned();
    match (created, added) {
        (true, _) => println!(
            "created archive {dir} (origin {}); trusted key {id}",
            super::esc(&archive.config.origin)
        ),
        (false, true) => println!("archive {dir} exists; now also trusts key {id}"),
        (false, false) => println!("archive {dir} exists and trusts key {id}; nothing to do"),
    }
    Ok(0)
}
