use super::Global;
use anyhow::Result;
use std::io::Write;

/// Write a record's exact document bytes to stdout (checked against the cited SHA-256)
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit cat EX-7K2M-9QDR-T4VW > page.html\n  exhibit cat EX-7K2M-9QDR-T4VW | sha256sum     # prints the cited hash"
)]
pub struct Args {
    /// Record ID, or SHA-256 (or unique prefix) of the document
    record: String,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let sha = match exhibit::verify::parse_target(&a.record)? {
        exhibit::verify::Target::Record(id) => archive.manifest(&id)?.document.sha256,
        target => {
            let ids = exhibit::verify::resolve(&archive, &target)?;
            archive.leaf(archive.manifest(&ids[0])?.log_index)?.sha256
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    archive.read_document(&sha, &mut out)?;
    out.flush()?;
    Ok(0)
}
