use super::Global;
use anyhow::Result;
use std::path::PathBuf;

/// Export records as one self-contained evidence bundle (zip) that verifies anywhere, offline
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit export EX-7K2M-9QDR-T4VW --out exhibit-A.zip\n  exhibit verify exhibit-A.zip --trusted-key archive.pub      # on any machine\n\nThe bundle holds each document, its manifest, signature and inclusion proof, the checkpoint,\nthe public keys that signed (for convenience: a verifier pins the publisher's key instead),\nCITATION.txt and VERIFY.txt (how to check it all with unzip, sha256sum and openssl: the\nprocedure of docs/FORMAT.md section 13.11). The member list SHA256SUMS is sealed with --key.\nExporting the same records against the same checkpoint always gives a byte-identical file."
)]
pub struct Args {
    /// Record IDs, or SHA-256 (or unique prefix) of their documents
    #[arg(required = true)]
    records: Vec<String>,
    /// The bundle to write (.zip)
    #[arg(long, value_name = "FILE.zip")]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let key = exhibit::keys::load(&g.key_path())?;
    let mut ids = Vec::new();
    for r in &a.records {
        let target = exhibit::verify::parse_target(r)?;
        ids.extend(exhibit::verify::resolve(&archive, &target)?);
    }
    let summary = exhibit::bundle::export(&archive, &key, &ids, &a.out)?;
    if a.json {
        super::print_json(&summary)?;
    } else {
        println!(
            "{}  {} record(s), {} bytes, SHA-256 {}",
            summary.path, summary.records, summary.bytes, summary.sha256
        );
    }
    Ok(0)
}
