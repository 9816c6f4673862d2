use super::Global;
use anyhow::Result;
use exhibit::manifest::Labels;
use std::path::PathBuf;

/// Archive a document you already hold (a saved page, a PDF); the record says it was imported
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit import saved-page.html --url https://example.org/terms --captured-at 2026-05-21T05:07:28Z\n  exhibit import report.pdf --url https://example.org/report.pdf --content-type application/pdf --json"
)]
pub struct Args {
    /// The file to archive
    file: PathBuf,
    /// The URL the document came from
    #[arg(long)]
    url: String,
    /// When the document was captured (RFC 3339); default: now
    #[arg(long, value_name = "RFC3339")]
    captured_at: Option<String>,
    /// Media type of the document (e.g. text/html; charset=utf-8)
    #[arg(long)]
    content_type: Option<String>,
    /// Label: who publishes the document (e.g. "Coursera")
    #[arg(long)]
    entity: Option<String>,
    /// Label: the document's name (e.g. "Privacy Notice"); defaults to the HTML title
    #[arg(long)]
    document: Option<String>,
    /// Label: a free-text note
    #[arg(long)]
    note: Option<String>,
    /// One JSON object instead of text
    #[arg(long)]
    json: bool,
    /// Create the archive (and a signing key) if there is none yet, as `exhibit init` would
    #[arg(long)]
    init: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    exhibit::capture::parse_url(&a.url)?;
    if !a.file.is_file() {
        return Err(exhibit::Error::usage(format!(
            "{} is not a readable file",
            exhibit::terminal::shown(&a.file.display().to_string())
        ))
        .hint("check the path")
        .into());
    }
    let (archive, key) = g.open_for_writing(a.init)?;
    let scratch = archive.scratch()?;
    let labels = Labels {
        entity: a.entity,
        document: a.document,
        note: a.note,
    };
    let draft = exhibit::capture::stage_file(
        scratch.dir(),
        &a.file,
        &a.url,
        a.captured_at.as_deref(),
        a.content_type,
        labels,
    )?;
    let committed = archive.commit(&key, &scratch, vec![draft])?;
    let m = &committed[0].manifest;
    if a.json {
        super::print_json(&serde_json::json!({
            "record_id": m.record_id, "sha256": m.document.sha256, "size": m.document.size,
            "url": m.requested_url, "final_url": m.final_url, "status": null,
            "content_type": m.document.content_type, "captured_at": m.captured_at,
            "log_index": m.log_index, "method": "import",
        }))?;
    } else {
        println!(
            "{}  {}  {}",
            super::esc(&m.record_id),
            super::esc(&m.document.sha256),
            super::esc(&m.requested_url)
        );
    }
    Ok(0)
}
