use super::{esc, Global};
use anyhow::Result;

/// List the archive's records in log order: ID, capture time, SHA-256 prefix, method, URL
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit list\n  exhibit list --url https://example.org/terms --json\n\nThe method is capture (fetched by exhibit), check (fetched again, same document), import (a copy supplied by the user) or key (a key retirement or compromise). list reads the records without verifying them; `exhibit audit` verifies everything."
)]
pub struct Args {
    /// Only records whose requested or final URL is this
    #[arg(long)]
    url: Option<String>,
    /// One JSON object per line
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    // As for every other command: such a URL is bad input, whatever an old record holds.
    if let Some(u) = &a.url {
        exhibit::capture::refuse_userinfo(u)?;
    }
    let archive = g.open()?;
    let size = archive.log_size()?;
    let want = a.url.as_deref().map(|u| {
        url::Url::parse(u)
            .map(|p| p.to_string())
            .unwrap_or(u.to_string())
    });
    for leaf in archive.leaves(size)? {
        let m = archive.manifest(&leaf.record_id)?;
        if let Some(u) = &want {
            if &m.requested_url != u && &m.final_url != u {
                continue;
            }
        }
        if a.json {
            let mut line = super::summary_json(&m);
            line["entity"] = m.labels.entity.clone().into();
            line["document"] = m.labels.document.clone().into();
            super::print_json(&line)?;
        } else {
            println!(
                "{}  {}  {}  {:<7}  {}",
                esc(&m.record_id),
                esc(&m.captured_at),
                esc(m.document.sha256.get(..16).unwrap_or(&m.document.sha256)),
                m.method.as_str(),
                esc(&m.requested_url)
            );
        }
    }
    Ok(0)
}
