use super::{esc, Global};
use anyhow::Result;

/// Every version of a URL: when it was captured, its hashes, whether it changed
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit history https://example.org/terms\n  exhibit history EX-7K2M-9QDR-T4VW          # the URL of that record\n  exhibit history https://example.org/terms --json\n\nEvery record shown is verified first (as `exhibit verify` does); if one does not verify, nothing is shown and the exit code is 1."
)]
pub struct Args {
    /// The URL, or a record ID (or document hash) whose URL to show
    url: String,
    /// Print the history as one JSON object
    #[arg(long)]
    json: bool,
    /// Trust only this public key (PEM); repeatable. Default: the archive's keys/
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<std::path::PathBuf>,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let url = exhibit::history::target_url(&archive, &a.url)?;
    let index = exhibit::history::UrlIndex::build(&archive)?;
    let h = exhibit::history::history(&index, &url, jiff::Timestamp::now());
    if h.versions.is_empty() {
        return Err(exhibit::Error::not_found(format!(
            "no record of {} in the archive",
            exhibit::terminal::shown(&url)
        ))
        .hint("capture it first, or check the URL (`exhibit list` shows what is archived)")
        .into());
    }
    // "First tracked" and "Last verified" are read from the records' manifests: every one of them
    // is verified first, as `show` and `cite` do, so an altered date is never shown as a
    // verification.
    let anchor = exhibit::trust::Anchor::from_flags(&a.trusted_key)?;
    let log = exhibit::verify::LogState::load(&archive, &anchor);
    for v in &h.versions {
        let id: exhibit::record_id::RecordId = v.record_id.parse()?;
        let report = exhibit::verify::verify_record_to(&archive, &log, &id, &mut std::io::sink())?;
        if !report.ok {
            return Err(
                super::not_verified(&report, "so the history of its URL is not shown").into(),
            );
        }
    }
    if a.json {
        super::print_json(&h)?;
        return Ok(0);
    }
    println!("URL:            {}", esc(&h.url));
    println!(
        "First tracked:  {}",
        esc(&exhibit::cite::human_time(
            h.first_tracked.as_deref().unwrap_or("")
        ))
    );
    println!(
        "Last verified:  {}",
        esc(&exhibit::cite::human_time(
            h.last_verified.as_deref().unwrap_or("")
        ))
    );
    println!(
        "Versions:       {} distinct, {}",
        h.versions_count,
        super::count(h.versions.len(), "record", "records")
    );
    println!(
        "Recent changes: {} in the last 30 days",
        h.changes_last_30_days
    );
    for v in &h.versions {
        println!(
            "  {}  {}  {:<13} {:<7}  {}  text {}",
            esc(&v.captured_at),
            esc(&v.record_id),
            v.change.as_str(),
            v.method,
            esc(v.sha256.get(..16).unwrap_or(&v.sha256)),
            v.text_fingerprint
                .as_deref()
                .and_then(|f| f.get(7..23))
                .map(esc)
                .unwrap_or("-".into())
        );
    }
    Ok(0)
}
