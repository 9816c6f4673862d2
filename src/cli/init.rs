use super::Global;
use anyhow::Result;
use exhibit::archive::Archive;

/// Create an archive whose first record adds the signing key (made if there is none)
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit init\n  exhibit --archive /srv/evidence init --origin evidence.example.org/2026\n  exhibit init --layout loose     # one file per manifest, signature and document (exhibit-archive/1)\n\nOn an existing archive, init changes nothing: another key is added with `exhibit keys add`, signed by a key of the archive, and `exhibit keys rotate` hands over to a new key."
)]
pub struct Args {
    /// The log's origin line, fixed at creation (printable ASCII, no spaces or '+')
    #[arg(long)]
    origin: Option<String>,
    /// How a new archive lays out its records: `packed` (exhibit-archive/2: a commit's
    /// manifests, signatures and small documents in one pack file) or `loose`
    /// (exhibit-archive/1: three files per record, as archives made before 2026-12)
    #[arg(long, value_enum, default_value = "packed")]
    layout: LayoutArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LayoutArg {
    Loose,
    Packed,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let key = super::load_or_create_key(&g.key_path())?;
    let public = key.verifying_key();
    let layout = match a.layout {
        LayoutArg::Loose => exhibit::archive::Layout::Loose,
        LayoutArg::Packed => exhibit::archive::Layout::Packed,
    };
    let (archive, created) = match &g.remote {
        Some(remote) => remote.init(a.origin.as_deref(), &key, layout)?,
        None => Archive::init_with(&g.archive, a.origin.as_deref(), &key, layout)?,
    };
    let id = exhibit::keys::key_id(&public);
    let dir = super::esc(&archive.describe()).into_owned();
    if created {
        println!(
            "created archive {dir} (origin {}); its first record adds key {id}",
            super::esc(&archive.config.origin)
        );
        return Ok(0);
    }
    // An existing archive: never trust a key silently (issue 16 item 3).
    let trust = archive.trust(&exhibit::trust::Anchor::Archive)?;
    match trust.book.get(&id) {
        Some(_) => {
            println!("archive {dir} exists and key {id} is one of its keys; nothing to do");
            Ok(0)
        }
        None => Err(exhibit::Error::key(format!(
            "archive {dir} exists and key {id} is not one of its keys; init does not add keys"
        ))
        .hint(format!(
            "have a key of the archive add it: `exhibit --key ARCHIVE.key keys add {}`",
            super::esc(
                &exhibit::keys::public_path(&g.key_path())
                    .display()
                    .to_string()
            )
        ))
        .into()),
    }
}
