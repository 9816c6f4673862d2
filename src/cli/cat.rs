use super::Global;
use anyhow::Result;
use std::io::{Seek, Write};
use std::path::PathBuf;

/// Documents up to this size are held in memory while they are checked; larger ones in an
/// unnamed temporary file (TMPDIR).
const IN_MEMORY: usize = 16 * 1024 * 1024;

/// Write a record's exact document bytes to stdout, only after the record verifies
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit cat EX-7K2M-9QDR-T4VW > page.html\n  exhibit cat EX-7K2M-9QDR-T4VW | sha256sum     # prints the cited hash\n\nThe record is verified first (signature, document hash and size, log), holding the document aside meanwhile (in memory, or an unnamed temporary file for large documents). Nothing reaches stdout unless it verifies; otherwise the command exits 1 with the failed checks."
)]
pub struct Args {
    /// Record ID, or SHA-256 (or unique prefix) of the document
    record: String,
    /// Trust only this public key (PEM); repeatable. Default: the archive's keys/
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let id = super::resolve_one(&archive, &a.record)?;
    // Verify first, into a spool: bytes that fail the check must never reach stdout, where a
    // pipe would already have passed them on before the error.
    let mut spool = tempfile::spooled_tempfile(IN_MEMORY);
    let report = super::verify_for_display(&archive, &a.trusted_key, &id, &mut spool)?;
    if !report.ok {
        return Err(super::not_verified(&report, "so its document is not written").into());
    }
    spool.rewind()?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    std::io::copy(&mut spool, &mut out)?;
    out.flush()?;
    Ok(0)
}
