use super::{esc, Global};
use anyhow::Result;
use exhibit::history::UrlIndex;
use exhibit::manifest::Manifest;
use exhibit::Error;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DiffFormat {
    Text,
    Json,
    Html,
}

/// Word-level diff of the readable text of two records (added, removed, moved paragraphs)
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit diff https://example.org/terms            # its latest two versions\n  exhibit diff EX-NEW1-BBBB-BBBB                    # that record and the version before it\n  exhibit diff EX-OLD1-AAAA-AAAA EX-NEW1-BBBB-BBBB\n  exhibit diff https://example.org/terms --format html > change.html\n\nA version is a distinct document: check records that found the page unchanged are skipped. Both records are verified first (signature, document, log); a record that does not verify is not compared (exit 1). The text and HTML outputs name both sides: record ID, URL, capture time and SHA-256."
)]
pub struct Args {
    /// The older record (ID or document hash); or, alone, a URL (its latest two versions) or a
    /// record (compared with the version of its URL before it)
    old: String,
    /// The newer record (ID or document hash)
    new: Option<String>,
    /// Output format [default: text]
    #[arg(long, value_enum)]
    format: Option<DiffFormat>,
    /// The same as --format json
    #[arg(long)]
    json: bool,
    /// Trust only this public key (PEM); repeatable. Default: the archive's keys/
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
}

fn text_of(
    archive: &exhibit::archive::Archive,
    trusted_key: &[PathBuf],
    id: &exhibit::record_id::RecordId,
) -> Result<(Manifest, String)> {
    let m = archive.manifest(id)?;
    if m.document.size > exhibit::capture::TEXT_LIMIT {
        return Err(Error::usage(format!(
            "record {id} is {}, too large to diff",
            super::count(m.document.size, "byte", "bytes")
        ))
        .hint("compare the hashes instead")
        .into());
    }
    let mut bytes = Vec::with_capacity(m.document.size as usize);
    let report = super::verify_for_display(archive, trusted_key, id, &mut bytes)?;
    if !report.ok {
        return Err(super::not_verified(&report, "so it is not compared").into());
    }
    let text =
        exhibit::text::extract(m.document.content_type.as_deref(), &bytes).ok_or_else(|| {
            Error::usage(format!(
                "record {id} is not a text document ({})",
                esc(m.document.content_type.as_deref().unwrap_or("unknown type"))
            ))
            .hint("diff works on HTML and text; compare the SHA-256 of other documents")
        })?;
    Ok((m, text))
}

/// The two records to compare when only one target is given: a URL's latest two versions, or a
/// record and the version of its URL before it.
fn pair_from_one(
    archive: &exhibit::archive::Archive,
    target: &str,
) -> Result<(exhibit::record_id::RecordId, exhibit::record_id::RecordId)> {
    let index = UrlIndex::build(archive)?;
    let (url, newest_id) = if target.contains("://") {
        let url = exhibit::capture::parse_url(target)?.to_string();
        let Some(latest) = index.latest(&url) else {
            return Err(Error::not_found(format!(
                "no record of {} in the archive",
                exhibit::terminal::shown(&url)
            ))
            .hint("check the URL (`exhibit list` shows what is archived)")
            .into());
        };
        (url, latest.record_id.clone())
    } else {
        let id = super::resolve_one(archive, target)?;
        (archive.manifest(&id)?.requested_url, id.to_string())
    };
    let records = index.records(&url);
    let pos = records
        .iter()
        .position(|m| m.record_id == newest_id)
        .ok_or_else(|| Error::archive(format!("record {newest_id} is not in the log")))?;
    let newest = records[pos];
    let Some(older) = records[..pos]
        .iter()
        .rev()
        .find(|m| m.document.sha256 != newest.document.sha256)
    else {
        return Err(Error::not_found(format!(
            "{} has no version before {newest_id} to compare with",
            exhibit::terminal::shown(&url)
        ))
        .hint("`exhibit history URL` lists its versions; give two record IDs to compare any two")
        .into());
    };
    Ok((older.record_id.parse()?, newest.record_id.parse()?))
}

fn side(m: &Manifest) -> exhibit::diff::Side {
    exhibit::diff::Side {
        record_id: m.record_id.clone(),
        url: m.requested_url.clone(),
        captured_at: m.captured_at.clone(),
        sha256: m.document.sha256.clone(),
    }
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let format = super::json_or_format(a.json, a.format, DiffFormat::Json, DiffFormat::Text)?;
    let archive = g.open()?;
    let (old_id, new_id) = match &a.new {
        None => pair_from_one(&archive, &a.old)?,
        Some(new) => {
            if a.old.contains("://") || new.contains("://") {
                return Err(
                    Error::usage("diff compares two records, or the versions of one URL")
                        .hint("give one URL alone (its latest two versions), or two record IDs")
                        .into(),
                );
            }
            (
                super::resolve_one(&archive, &a.old)?,
                super::resolve_one(&archive, new)?,
            )
        }
    };
    let (old_m, old) = text_of(&archive, &a.trusted_key, &old_id)?;
    let (new_m, new) = text_of(&archive, &a.trusted_key, &new_id)?;
    let d = exhibit::diff::diff(&old, &new);
    match format {
        DiffFormat::Json => super::print_json(&serde_json::json!({
            "old": old_m.record_id, "new": new_m.record_id,
            "old_url": old_m.requested_url, "new_url": new_m.requested_url,
            "old_captured_at": old_m.captured_at, "new_captured_at": new_m.captured_at,
            "old_sha256": old_m.document.sha256, "new_sha256": new_m.document.sha256,
            "diff": d,
        }))?,
        DiffFormat::Text => {
            for (mark, m) in [("---", &old_m), ("+++", &new_m)] {
                println!(
                    "{mark} {} {} {} SHA-256 {}",
                    esc(&m.record_id),
                    esc(&m.captured_at),
                    esc(&m.requested_url),
                    esc(&m.document.sha256)
                );
            }
            print!("{}", super::esc_lines(&d.render_text()));
        }
        DiffFormat::Html => {
            let title = format!(
                "{}: {} → {}",
                new_m.display_title(),
                old_m.record_id,
                new_m.record_id
            );
            let html = d.render_html_of(&title, Some([&side(&old_m), &side(&new_m)]));
            // Escaped as text, as the viewer's change page is: a character reference would
            // still reorder what a browser shows (a title or a line of the page ending in
            // U+202E), and the text diff escapes the same characters the same way.
            print!("{}", super::esc_lines(&html));
        }
    }
    Ok(0)
}
