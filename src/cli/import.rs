use super::Global;
use anyhow::Result;
use exhibit::manifest::Labels;
use std::path::PathBuf;

/// Archive a document you already hold (a saved page, a PDF), or the records of a WARC or WACZ
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit import saved-page.html --url https://example.org/terms --captured-at 2026-05-21T05:07:28Z\n  exhibit import report.pdf --url https://example.org/report.pdf --content-type application/pdf --json\n  exhibit import crawl.warc.gz           # each response becomes a record of method import-warc\n  exhibit import collection.wacz\n\nA .warc, .warc.gz or .wacz file without --url is read as a web archive: every digest it declares is checked first, and a damaged, truncated or malformed file is refused with nothing stored. Each response, resource and revisit record of an http(s) URL becomes one record; what the WARC says (target URI, date, HTTP headers, digests, record ID) is kept as the file's claim, next to the SHA-256 of the file. Redirects and truncated responses are skipped. With --url, any file (a WARC too) is imported as one document."
)]
pub struct Args {
    /// The file to archive
    file: PathBuf,
    /// The URL the document came from (required, except for a .warc, .warc.gz or .wacz file,
    /// which is then read as a web archive)
    #[arg(long)]
    url: Option<String>,
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
    if !a.file.is_file() {
        return Err(exhibit::Error::usage(format!(
            "{} is not a readable file",
            exhibit::terminal::shown(&a.file.display().to_string())
        ))
        .hint("check the path")
        .into());
    }
    let Some(url) = a.url.clone() else {
        if exhibit::formats::import::is_web_archive(&a.file) {
            return import_web_archive(g, a);
        }
        return Err(exhibit::Error::usage(format!(
            "{} needs --url: the URL the document came from",
            a.file.display()
        ))
        .hint("exhibit import FILE --url https://example.org/page (only .warc, .warc.gz and .wacz files go without)")
        .into());
    };
    exhibit::capture::parse_url(&url)?;
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
        &url,
        a.captured_at.as_deref(),
        a.content_type,
        labels,
    )?;
    let committed = archive.commit(&key, &scratch, vec![draft])?;
    let m = &committed[0].manifest;
    if a.json {
        let mut line = super::summary_json(m);
        line["status"] = serde_json::Value::Null;
        super::print_json(&line)?;
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

fn import_web_archive(g: &Global, a: Args) -> Result<i32> {
    if a.captured_at.is_some() || a.content_type.is_some() {
        return Err(exhibit::Error::usage(
            "--captured-at and --content-type do not apply to a web archive: its records carry their own",
        )
        .hint("drop them, or give --url to import the file as one document")
        .into());
    }
    let (archive, key) = g.open_for_writing(a.init)?;
    let labels = Labels {
        entity: a.entity,
        document: a.document,
        note: a.note,
    };
    let imported = exhibit::formats::import::import(&archive, &key, &a.file, labels)?;
    let s = &imported.skipped;
    if a.json {
        let records: Vec<serde_json::Value> = imported
            .committed
            .iter()
            .map(|c| {
                let m = &c.manifest;
                let mut line = super::summary_json(m);
                line["warc_record_id"] = m.warc.as_ref().map(|w| w.record_id.clone()).into();
                line
            })
            .collect();
        super::print_json(&serde_json::json!({
            "file": a.file.display().to_string(), "sha256": imported.source_sha256,
            "records": records, "skipped": s,
        }))?;
    } else {
        for c in &imported.committed {
            let m = &c.manifest;
            println!(
                "{}  {}  {}",
                m.record_id, m.document.sha256, m.requested_url
            );
        }
        eprintln!(
            "imported {} record(s) from {} (SHA-256 {}); skipped {} redirect(s), {} truncated response(s), {} revisit(s) without their original, {} record(s) of other URL schemes",
            imported.committed.len(),
            a.file.display(),
            imported.source_sha256,
            s.redirects,
            s.truncated,
            s.unresolved_revisits,
            s.not_http
        );
    }
    Ok(0)
}
