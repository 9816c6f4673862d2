use super::{esc, Global};
use anyhow::Result;
use exhibit::capture::CaptureOptions;
use exhibit::history;
use exhibit::manifest::Labels;
use exhibit::Error;
use std::path::PathBuf;
use std::time::Duration;

/// The exit code when at least one page changed (and none failed): for cron and CI.
pub const EXIT_CHANGED: i32 = 8;

/// Fetch URLs again and compare with their latest records: unchanged, bytes-changed, changed or new
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit check https://example.org/terms\n  exhibit check EX-7K2M-9QDR-T4VW                 # the URL of that record\n  exhibit check --from watched.txt --jobs 16 --json\n  exhibit check --from watched.txt --ordered --entity Example\n  exhibit check https://example.org/account --redact-header set-cookie --proxy http://proxy.internal:3128\n\nFetches follow the same policy as capture: no URLs with credentials, only public addresses unless --allow-private, proxy environment variables ignored unless --proxy, and every header recorded unless --redact-header names it (see `exhibit capture --help`).\n\nEach URL gets one line: its outcome, record ID, SHA-256 and URL. The outcomes, in the lines, the summary and --json alike:\n  unchanged      identical bytes: a signed check record, no new document\n  bytes-changed  new bytes, same readable text (only noise such as nonces or times): a new record\n  changed        the readable text changed: a new record\n  new            no earlier record of the URL: a first capture\n\nLabels (--entity, --document, --note) are those of the URL's latest record unless given. Exit codes: 0 nothing changed (bytes-changed does not count), 8 at least one changed, otherwise the code of the first failure in input order (5 fetch failed, ...)."
)]
pub struct Args {
    /// URLs, or record IDs (or document hashes) whose URL to check
    targets: Vec<String>,
    /// Read targets from FILE, one per line ('-' for stdin; blank lines and # comments skipped)
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    /// How many URLs to fetch at once
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Refuse documents larger than this many bytes (after decompression)
    #[arg(long, default_value_t = exhibit::capture::DEFAULT_MAX_SIZE, value_name = "BYTES")]
    max_size: u64,
    /// Total deadline per URL in seconds (connect, redirects and body)
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    timeout: f64,
    /// Connect timeout in seconds (the TCP connection and, for https, the TLS handshake)
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    connect_timeout: f64,
    /// Archive non-2xx answers (error pages) instead of refusing them
    #[arg(long)]
    allow_status: bool,
    /// Label: who publishes the document [default: the latest record's]
    #[arg(long)]
    entity: Option<String>,
    /// Label: the document's name [default: the latest record's]
    #[arg(long)]
    document: Option<String>,
    /// Label: a free-text note [default: the latest record's]
    #[arg(long)]
    note: Option<String>,
    /// One JSON object per line instead of text
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    policy: super::capture::PolicyArgs,
    /// Print results in the order of the input, not as each URL finishes
    #[arg(long)]
    ordered: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let mut targets = a.targets;
    super::capture::read_url_list(&a.from, &mut targets, false)?;
    if targets.is_empty() {
        return Err(Error::usage("nothing to check")
            .hint("give URLs or record IDs, or --from FILE")
            .into());
    }
    let mut opts = CaptureOptions::default();
    a.policy.apply(&mut opts)?;
    let (archive, key) = g.open_for_writing(false)?;
    let urls = targets
        .iter()
        .map(|t| history::target_url(&archive, t))
        .collect::<exhibit::Result<Vec<_>>>()?;
    // A URL too long to send is bad input, refused before anything is fetched.
    for u in &urls {
        exhibit::capture::parse_fetch_url(u)?;
    }
    let opts = CaptureOptions {
        max_size: a.max_size,
        timeout: Duration::try_from_secs_f64(a.timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                Error::usage(format!(
                    "--timeout must be a positive number of seconds, not {}",
                    a.timeout
                ))
                .hint("e.g. --timeout 30")
            })?,
        connect_timeout: super::capture::seconds(a.connect_timeout, "--connect-timeout")?,
        allow_status: a.allow_status,
        ..opts
    };
    // Given labels replace the latest record's; none given keeps them (history::check_many).
    let labels = Labels {
        entity: a.entity,
        document: a.document,
        note: a.note,
    };
    let mut emitter = super::Emitter::new(a.ordered, super::progress(urls.len() as u64, "check"));
    let mut counts = [0usize; 4];
    let mut failures: Vec<(usize, String, exhibit::Error)> = Vec::new();
    history::check_many(
        &archive,
        &key,
        &urls,
        &labels,
        &opts,
        a.jobs.max(1),
        |item| {
            let mut lines = super::Lines::default();
            match item.result {
                Ok((c, outcome)) => {
                    counts[outcome as usize] += 1;
                    let m = &c.manifest;
                    if a.json {
                        let mut line = super::summary_json(m);
                        line["outcome"] = outcome.as_str().into();
                        line["previous"] = m.change.as_ref().map(|c| c.previous.clone()).into();
                        lines.out.extend(super::json_line(&line).ok());
                    } else {
                        lines.out.push(format!(
                            "{:<13} {}  {}  {}",
                            outcome.as_str(),
                            esc(&m.record_id),
                            esc(&m.document.sha256),
                            esc(&item.url)
                        ));
                    }
                }
                Err(e) => {
                    if a.json {
                        lines.out.extend(
                            super::json_line(&serde_json::json!({
                                "url": item.url, "error": e.to_string(), "exit_code": e.kind.exit_code()
                            }))
                            .ok(),
                        );
                    }
                    lines
                        .err
                        .push(format!("error: {}", super::lib_error_line(&e)));
                    failures.push((item.index, item.url, e));
                }
            }
            emitter.emit(item.index, lines);
        },
    )?;
    emitter.finish();
    let [new, unchanged, bytes, changed] = counts;
    failures.sort_by_key(|f| f.0);
    eprintln!(
        "checked {}: {unchanged} unchanged, {bytes} bytes-changed (text unchanged), {changed} changed, {new} new, {}",
        super::count(urls.len(), "URL", "URLs"),
        if failures.is_empty() {
            "0 failed".to_string()
        } else {
            super::failure_summary(&failures)
        }
    );
    if let Some((_, _, e)) = failures.first() {
        return Ok(e.kind.exit_code());
    }
    Ok(if changed > 0 { EXIT_CHANGED } else { 0 })
}
