use super::Global;
use anyhow::Result;
use exhibit::cite::{Citation, Format};

/// Print a citation for a record: a "Citation Record" block, a one-line legal citation, BibTeX,
/// CSL-JSON (Zotero, pandoc), JSON, or a printable HTML "Certificate of capture"
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  exhibit cite EX-7K2M-9QDR-T4VW
  exhibit cite EX-7K2M-9QDR-T4VW --format oneline
  exhibit cite EX-7K2M-9QDR-T4VW --format markdown >> filing.md
  exhibit cite EX-7K2M-9QDR-T4VW --format bibtex >> references.bib
  exhibit cite EX-7K2M-9QDR-T4VW --format csl-json > record.json
  exhibit cite 0be9e4add991830b --format html > certificate.html")]
pub struct Args {
    /// Record ID, or SHA-256 (or unique prefix) of its document
    record: String,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let id = super::resolve_one(&archive, &a.record)?;
    let m = archive.manifest(&id)?;
    print!("{}", Citation::new(&m).render(a.format));
    Ok(0)
}
