use super::{count, esc, Global};
use anyhow::Result;
use exhibit::archive::Archive;
use std::path::PathBuf;

/// Write a packed copy (exhibit-archive/2) of a loose archive (exhibit-archive/1)
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit --archive ./archive migrate ./archive-packed\n  exhibit audit --archive ./archive-packed --trusted-key archive.pub\n\nThe packed layout keeps a commit's manifests, signatures and small documents in one pack file, so an archive takes about as many disk blocks as bytes and a handful of files per thousand records. Nothing signed changes: every record ID, manifest, signature, document, checkpoint and proof is carried over byte for byte, and `exhibit audit --since` a checkpoint kept from before still proves the log only grew. The source is read under its writers' lock and left as it is; the copy is written beside DEST and moved into place when complete. Every document is checked as it is copied and the log's root is recomputed from the manifests before anything is written.\n\nExit codes: 0 migrated; 2 DEST exists, or the archive is already packed; 7 no archive at --archive, or the source is damaged (run `exhibit audit`; nothing is written)."
)]
pub struct Args {
    /// Where to write the packed archive (must not exist)
    #[arg(value_name = "DEST")]
    dest: PathBuf,
    /// One line of JSON: what was migrated
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let src = Archive::open(&g.archive)?;
    let bar = super::progress(0, "migrate");
    let report = exhibit::archive::migrate::migrate(&src, &a.dest, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = report?;
    if a.json {
        super::print_json(&serde_json::json!({
            "source": g.archive.display().to_string(),
            "destination": a.dest.display().to_string(),
            "records": report.records,
            "packs": report.packs,
            "packed_documents": report.packed_documents,
            "large_documents": report.large_documents,
        }))?;
    } else {
        println!(
            "migrated {} to {} (exhibit-archive/2): {} in {}, {} packed, {} as files of their own",
            esc(&g.archive.display().to_string()),
            esc(&a.dest.display().to_string()),
            count(report.records, "record", "records"),
            count(report.packs, "pack", "packs"),
            count(report.packed_documents, "document", "documents"),
            report.large_documents
        );
    }
    Ok(0)
}
