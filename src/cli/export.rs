use super::Global;
use anyhow::Result;
use std::path::PathBuf;

/// Export records as one self-contained evidence bundle (zip) that verifies anywhere, offline
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit export EX-7K2M-9QDR-T4VW --out exhibit-A.zip\n  exhibit verify exhibit-A.zip --trusted-key archive.pub      # on any machine\n\nThe bundle holds each document, its manifest, signature and inclusion proof, the checkpoint, the public keys that signed (for convenience: a verifier pins the publisher's key instead), CITATION.txt and VERIFY.txt (how to check it all with unzip, sha256sum and openssl: the procedure of docs/FORMAT.md section 13.11). The member list SHA256SUMS is sealed with --key. Exporting the same records against the same checkpoint always gives a byte-identical file."
)]
pub struct Args {
    /// Record IDs, or SHA-256 (or unique prefix) of their documents
    #[arg(required = true)]
    records: Vec<String>,
    /// The bundle to write (.zip)
    #[arg(long, value_name = "FILE.zip")]
    out: PathBuf,
    /// Print the bundle's path, size, SHA-256 and records as one JSON object
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let key = exhibit::keys::load(&g.key_path())?;
    let mut ids = Vec::new();
    for r in &a.records {
        ids.extend(exhibit::verify::lookup(&archive, r)?.1);
    }
    let summary = exhibit::bundle::export(&archive, &key, &ids, &a.out)?;
    if a.json {
        super::print_json(&summary)?;
    } else {
        println!(
            "{}  {}, {}, SHA-256 {}",
            super::esc(&summary.path),
            super::count(summary.records, "record", "records"),
            super::count(summary.bytes, "byte", "bytes"),
            summary.sha256
        );
    }
    Ok(0)
}
