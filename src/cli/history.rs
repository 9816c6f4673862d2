use super::Global;
use anyhow::Result;

/// Every version of a URL: when it was captured, its hashes, whether it changed
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit history https://example.org/terms\n  exhibit history https://example.org/terms --json"
)]
pub struct Args {
    url: String,
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let index = exhibit::history::UrlIndex::build(&archive)?;
    let h = exhibit::history::history(&index, &a.url, jiff::Timestamp::now());
    if h.versions.is_empty() {
        return Err(
            exhibit::Error::not_found(format!("no record of {} in the archive", a.url))
                .hint("capture it first, or check the URL (`exhibit list` shows what is archived)")
                .into(),
        );
    }
    if a.json {
        super::print_json(&h)?;
        return Ok(0);
    }
    println!("URL:            {}", h.url);
    println!(
        "First tracked:  {}",
        exhibit::cite::human_time(h.first_tracked.as_deref().unwrap_or(""))
    );
    println!(
        "Last verified:  {}",
        exhibit::cite::human_time(h.last_verified.as_deref().unwrap_or(""))
    );
    println!(
        "Versions:       {} distinct, {} records",
        h.versions_count,
        h.versions.len()
    );
    println!(
        "Recent changes: {} in the last 30 days",
        h.changes_last_30_days
    );
    for v in &h.versions {
        println!(
            "  {}  {}  {:<13} {}  text {}",
            v.captured_at,
            v.record_id,
            v.change,
            &v.sha256[..16],
            v.text_fingerprint
                .as_deref()
                .map(|f| &f[7..23])
                .unwrap_or("-")
        );
    }
    Ok(0)
}
