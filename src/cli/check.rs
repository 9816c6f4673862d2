use super::Global;
use anyhow::Result;
use exhibit::capture::CaptureOptions;
use exhibit::history;
use exhibit::manifest::Labels;
use exhibit::Error;
use std::path::PathBuf;
use std::time::Duration;

/// The exit code when at least one page changed (and none failed): for cron and CI.
pub const EXIT_CHANGED: i32 = 8;

/// Fetch URLs again and compare with their latest records: unchanged, bytes-only change, or changed
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit check https://example.org/terms\n  exhibit check EX-7K2M-9QDR-T4VW                 # the URL of that record\n  exhibit check --from watched.txt --jobs 16 --json\n  exhibit check https://example.org/account --redact-header set-cookie --proxy http://proxy.internal:3128\n\nFetches follow the same policy as capture: no URLs with credentials, only public addresses\nunless --allow-private, proxy environment variables ignored unless --proxy, and every header\nrecorded unless --redact-header names it (see `exhibit capture --help`).\n\nUnchanged bytes add a signed verification event (no new document). Changed bytes are captured as a\nnew record, reported as bytes-changed when only noise changed (the readable text is the same)\nand as changed otherwise; only changed sets exit code 8. Exit codes: 0 all unchanged, 8 at least one changed, otherwise the code of the first\nfailure (5 fetch failed, ...)."
)]
pub struct Args {
    /// URLs, or record IDs whose URL to check
    targets: Vec<String>,
    /// Read targets from FILE, one per line ('-' for stdin)
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    #[arg(long, default_value_t = exhibit::capture::DEFAULT_MAX_SIZE, value_name = "BYTES")]
    max_size: u64,
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    timeout: f64,
    #[arg(long)]
    allow_status: bool,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    policy: super::capture::PolicyArgs,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let mut targets = a.targets;
    super::capture::read_url_list(&a.from, &mut targets)?;
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
    let opts = CaptureOptions {
        max_size: a.max_size,
        timeout: Duration::try_from_secs_f64(a.timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::usage("--timeout must be a positive number of seconds"))?,
        allow_status: a.allow_status,
        ..opts
    };
    let bar = super::progress(urls.len() as u64, "check");
    let mut counts = [0usize; 4];
    let mut failures: Vec<(usize, String, exhibit::Error)> = Vec::new();
    history::check_many(
        &archive,
        &key,
        &urls,
        &Labels::default(),
        &opts,
        a.jobs.max(1),
        |item| {
            bar.inc(1);
            match item.result {
                Ok((c, outcome)) => {
                    counts[outcome as usize] += 1;
                    let m = &c.manifest;
                    bar.suspend(|| {
                    if a.json {
                        println!(
                            "{}",
                            serde_json::json!({
                                "url": item.url, "outcome": outcome.as_str(), "record_id": m.record_id,
                                "method": m.method.as_str(), "sha256": m.document.sha256,
                                "text_fingerprint": m.document.text_fingerprint,
                                "previous": m.change.as_ref().map(|c| c.previous.clone()),
                                "captured_at": m.captured_at,
                            })
                        );
                    } else {
                        println!("{:<13} {}  {}  {}", outcome.as_str(), m.record_id, m.document.sha256, item.url);
                    }
                });
                }
                Err(e) => {
                    bar.suspend(|| {
                    if a.json {
                        println!("{}", serde_json::json!({"url": item.url, "error": e.to_string(), "exit_code": e.kind.exit_code()}));
                    }
                    eprintln!("error: {e}");
                });
                    failures.push((item.index, item.url, e));
                }
            }
        },
    )?;
    bar.finish_and_clear();
    let [new, unchanged, bytes, changed] = counts;
    eprintln!(
        "checked {} URLs: {unchanged} unchanged, {bytes} changed only in noise (text unchanged), {changed} changed, {new} new, {} failed",
        urls.len(),
        failures.len()
    );
    failures.sort_by_key(|f| f.0);
    if let Some((_, _, e)) = failures.first() {
        return Ok(e.kind.exit_code());
    }
    Ok(if changed > 0 { EXIT_CHANGED } else { 0 })
}
