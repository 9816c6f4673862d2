use super::Global;
use anyhow::Result;
use exhibit::cite::{Citation, Format};
use std::path::PathBuf;

/// Print a citation for a record: a "Citation Record" block, a one-line legal citation, a
/// Bluebook citation, BibTeX, CSL-JSON (Zotero, pandoc), JSON, or a printable HTML "Certificate
/// of capture"
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  exhibit cite EX-7K2M-9QDR-T4VW
  exhibit cite EX-7K2M-9QDR-T4VW --format oneline
  exhibit cite EX-7K2M-9QDR-T4VW --format bluebook
  exhibit cite EX-7K2M-9QDR-T4VW --format markdown >> filing.md
  exhibit cite EX-7K2M-9QDR-T4VW --format bibtex >> references.bib
  exhibit cite EX-7K2M-9QDR-T4VW --format csl-json > record.json
  exhibit cite 0be9e4add991830b --format html > certificate.html

The record is verified first (signature, document, log). A record that does not verify is not cited: nothing is printed on stdout and the command exits 1 with the failed checks.")]
pub struct Args {
    /// Record ID, or SHA-256 (or unique prefix) of its document
    record: String,
    /// Output format [default: text]
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// The same as --format json
    #[arg(long)]
    json: bool,
    /// Trust only this public key (PEM); repeatable. Default: the archive's keys/
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let format = super::json_or_format(a.json, a.format, Format::Json, Format::Text)?;
    let archive = g.open()?;
    let id = super::resolve_one(&archive, &a.record)?;
    let report = super::verify_for_display(&archive, &a.trusted_key, &id, &mut std::io::sink())?;
    if !report.ok {
        return Err(super::not_verified(&report, "so it is not cited").into());
    }
    let m = archive.manifest(&id)?;
    let document = exhibit::core::digest::Sha256::checked(&m.document.sha256)?;
    let at = archive.packed_location(&id, &document)?;
    // Already safe for a terminal: `render` escapes for every place a citation is shown.
    print!("{}", Citation::new(&m).packed_at(at).render(format));
    Ok(0)
}
