use super::Global;
use anyhow::Result;
use exhibit::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DiffFormat {
    Text,
    Json,
    Html,
}

/// Word-level diff of the readable text of two records (added, removed, moved paragraphs)
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit diff EX-OLD1-AAAA-AAAA EX-NEW1-BBBB-BBBB\n  exhibit diff EX-OLD1-AAAA-AAAA EX-NEW1-BBBB-BBBB --format html > change.html"
)]
pub struct Args {
    old: String,
    new: String,
    #[arg(long, value_enum, default_value = "text")]
    format: DiffFormat,
}

fn text_of(
    archive: &exhibit::archive::Archive,
    input: &str,
) -> Result<(exhibit::manifest::Manifest, String)> {
    let id = super::resolve_one(archive, input)?;
    let m = archive.manifest(&id)?;
    if m.document.size > exhibit::capture::TEXT_LIMIT {
        return Err(Error::usage(format!(
            "record {id} is {} bytes, too large to diff",
            m.document.size
        ))
        .hint("compare the hashes instead")
        .into());
    }
    let mut bytes = Vec::with_capacity(m.document.size as usize);
    archive.read_document(&m.document.sha256, &mut bytes)?;
    let text =
        exhibit::text::extract(m.document.content_type.as_deref(), &bytes).ok_or_else(|| {
            Error::usage(format!(
                "record {id} is not a text document ({})",
                m.document.content_type.as_deref().unwrap_or("unknown type")
            ))
            .hint("diff works on HTML and text; compare the SHA-256 of other documents")
        })?;
    Ok((m, text))
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let (old_m, old) = text_of(&archive, &a.old)?;
    let (new_m, new) = text_of(&archive, &a.new)?;
    let d = exhibit::diff::diff(&old, &new);
    match a.format {
        DiffFormat::Json => super::print_json(&serde_json::json!({
            "old": old_m.record_id, "new": new_m.record_id,
            "old_captured_at": old_m.captured_at, "new_captured_at": new_m.captured_at,
            "diff": d,
        }))?,
        DiffFormat::Text => {
            println!("--- {} {}", old_m.record_id, old_m.captured_at);
            println!("+++ {} {}", new_m.record_id, new_m.captured_at);
            print!("{}", d.render_text());
        }
        DiffFormat::Html => {
            let title = format!(
                "{}: {} → {}",
                new_m.display_title(),
                old_m.record_id,
                new_m.record_id
            );
            print!("{}", d.render_html(&title));
        }
    }
    Ok(0)
}
