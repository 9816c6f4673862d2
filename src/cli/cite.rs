use super::Global;
use anyhow::Result;
use exhibit::cite::{Citation, Format};

/// Print a citation record for a capture, with how to verify it
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit cite EX-7K2M-9QDR-T4VW\n  exhibit cite EX-7K2M-9QDR-T4VW --format markdown >> filing.md"
)]
pub struct Args {
    /// Record ID, or SHA-256 (or unique prefix) of its document
    record: String,
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
