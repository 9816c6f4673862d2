use super::{esc, Global};
use anyhow::Result;
use exhibit::capture::browse::{self, BrowserSummary};
use exhibit::capture::{self, CaptureOptions};
use exhibit::manifest::Labels;
use exhibit::store::Published;
use exhibit::{Error, Kind};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

pub const CAPTURE_AFTER_HELP: &str = "\
Examples:
  exhibit capture https://example.org/terms
  exhibit capture https://example.org/privacy --entity Example --document \"Privacy Notice\"
  exhibit capture --from urls.txt --jobs 16 --json > captured.jsonl
  exhibit capture --from urls.txt --ordered
  exhibit capture https://example.org/account --redact-header set-cookie
  exhibit capture https://example.org/terms --proxy http://proxy.internal:3128
  exhibit capture http://localhost:8000/draft --allow-private
  exhibit capture --browser https://example.org/terms
  exhibit capture --browser --from urls.txt --jobs 2

Prints one line per capture: record ID, SHA-256, URL (as each URL finishes; --ordered keeps the \
input order). Without an archive, capture fails unless --init is given (it then creates one, with \
a key). In a batch, a failure does not stop the others: each failure has its error line, a \
summary names the first few (--json lists every one), and the exit code is that of the first \
failure in input order (2 bad input, 5 fetch failed or refused).

What is recorded and what is refused:
  Every request and response head of every redirect hop is signed into the record, including
  cookies the server sets (Set-Cookie); --redact-header NAME replaces a header's value before
  signing, and the record lists the names redacted.
  URLs with a user name or password (https://user:pw@host/) are refused (exit 2), and so is a
  redirect to one (exit 5): credentials are never sent or recorded.
  A URL over 65,534 characters as sent (the most exhibit can send) is refused (exit 2), and a
  redirect to one fails the fetch (exit 5).
  Only public addresses are fetched: a URL or redirect whose host resolves to a loopback,
  private, link-local, unique-local or other non-public address is refused (exit 5) unless
  --allow-private (or EXHIBIT_ALLOW_PRIVATE=1) is given.
  Proxy environment variables (http_proxy, https_proxy, ALL_PROXY) are ignored; --proxy URL
  sends every request through that proxy and records it.

With --browser, the page is rendered by headless Chromium (Debian's `chromium`, or \
EXHIBIT_CHROMIUM) whose only network is exhibit, under the same rules. The record cites the main \
document's bytes and lists every exchange (failed ones too) and the screenshot, PDF and DOM, each \
stored as a document; `exhibit show` lists them and `exhibit cat ID --part NAME` writes one. \
Subresources that failed do not fail the capture: a warning names them. --timeout and \
--max-size bound each request of the page; the page as a whole has 60 s, or --timeout plus 15 s \
when that is longer (docs/BROWSER.md).";

/// Fetch URLs, store their exact bytes and sign a record of each
#[derive(clap::Args)]
#[command(
    after_help = CAPTURE_AFTER_HELP
)]
pub struct Args {
    /// URLs to capture (http or https)
    urls: Vec<String>,
    /// Read URLs from FILE, one per line ('-' for stdin; blank lines and # comments skipped)
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    /// How many URLs to fetch at once [default: 8; with --browser, 2 pages at once]
    #[arg(long)]
    jobs: Option<usize>,
    /// Label: who publishes the document (e.g. "Coursera")
    #[arg(long)]
    entity: Option<String>,
    /// Label: the document's name (e.g. "Privacy Notice"); defaults to the HTML title
    #[arg(long)]
    document: Option<String>,
    /// Label: a free-text note
    #[arg(long)]
    note: Option<String>,
    /// Refuse documents larger than this many bytes (after decompression)
    #[arg(long, default_value_t = capture::DEFAULT_MAX_SIZE, value_name = "BYTES")]
    max_size: u64,
    /// Total deadline per URL in seconds (connect, redirects and body)
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    timeout: f64,
    /// Connect timeout in seconds (the TCP connection and, for https, the TLS handshake)
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    connect_timeout: f64,
    /// Archive non-2xx answers (error pages) instead of refusing them (a 206 Partial Content,
    /// a piece of a document, is always refused)
    #[arg(long)]
    allow_status: bool,
    /// User-Agent header to send (recorded in the manifest) [default: exhibit's own; with
    /// --browser, Chromium's]
    #[arg(long)]
    user_agent: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// One JSON object per line instead of text
    #[arg(long)]
    json: bool,
    /// Create the archive (and a signing key) if there is none yet, as `exhibit init` would
    #[arg(long)]
    init: bool,
    /// Print results in the order of the input, not as each URL finishes
    #[arg(long)]
    ordered: bool,
    /// Load each page in headless Chromium and sign one record of everything it rendered:
    /// every exchange, a full-page screenshot, a PDF and the rendered DOM (docs/BROWSER.md)
    #[arg(long)]
    browser: bool,
}

/// The capture-policy options shared by capture and check.
#[derive(clap::Args)]
pub struct PolicyArgs {
    /// Also fetch from loopback, private, link-local and other non-public addresses (refused by default)
    #[arg(
        long,
        env = "EXHIBIT_ALLOW_PRIVATE",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    allow_private: bool,
    /// Send every request through this http(s) proxy and record it (proxy environment variables are ignored)
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// Replace this header's value in every request and response before signing (repeatable; e.g. set-cookie)
    #[arg(long = "redact-header", value_name = "NAME")]
    redact_header: Vec<String>,
    /// Also trust this certification authority (PEM) for https, besides the public roots
    /// (repeatable); certificates are always verified
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_cert: Vec<PathBuf>,
}

impl PolicyArgs {
    /// Check the options and put them into `opts`. Runs before anything is opened or created.
    pub fn apply(self, opts: &mut CaptureOptions) -> Result<()> {
        opts.allow_private = self.allow_private;
        opts.proxy = self
            .proxy
            .as_deref()
            .map(capture::parse_proxy)
            .transpose()?;
        opts.redact_headers = capture::parse_redact_headers(&self.redact_header)?;
        for path in &self.ca_cert {
            opts.ca_certs.extend(capture::tls::read_ca_certs(path)?);
        }
        Ok(())
    }
}

/// The lines of `--from` (`-`: standard input), without blanks and `#` comments; with
/// `only_urls`, each must be a URL capture accepts.
pub fn read_url_list(
    from: &Option<PathBuf>,
    urls: &mut Vec<String>,
    only_urls: bool,
) -> Result<()> {
    let Some(path) = from else { return Ok(()) };
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(path).map_err(|e| {
            let mut err = Error::io("open URL list", path, e);
            err.kind = Kind::Usage;
            err
        })?;
        Box::new(std::io::BufReader::new(f))
    };
    // A bad line is named by file and line number: in a list of thousands, "bad URL" alone
    // leaves the reader to find it.
    let shown = if path.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| {
            let mut err = Error::io("read URL list", path, e)
                .hint("--from takes a text file (UTF-8) with one URL per line");
            err.kind = Kind::Usage;
            err
        })?;
        // Editors on some systems start a UTF-8 file with a byte-order mark.
        let line = if n == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            &line
        }
        .trim();
        if !line.is_empty() && !line.starts_with('#') {
            if only_urls {
                if let Err(mut e) = capture::parse_fetch_url(line) {
                    e.what = format!("{shown}, line {}: {}", n + 1, e.what);
                    return Err(e.into());
                }
            }
            urls.push(line.to_string());
        }
    }
    Ok(())
}

pub fn seconds(v: f64, flag: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Error::usage(format!(
                "{flag} must be a positive number of seconds, not {v}"
            ))
            .into()
        })
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let mut urls = a.urls;
    read_url_list(&a.from, &mut urls, true)?;
    if urls.is_empty() {
        return Err(Error::usage("no URLs to capture")
            .hint("give URLs as arguments or a file with --from")
            .into());
    }
    // Reject malformed URLs before creating anything.
    for u in &urls {
        capture::parse_fetch_url(u)?;
    }
    let user_agent = a
        .user_agent
        .as_deref()
        .map(capture::parse_user_agent)
        .transpose()?;
    let mut opts = CaptureOptions {
        max_size: a.max_size,
        timeout: seconds(a.timeout, "--timeout")?,
        connect_timeout: seconds(a.connect_timeout, "--connect-timeout")?,
        allow_status: a.allow_status,
        user_agent: user_agent
            .clone()
            .unwrap_or_else(|| capture::DEFAULT_USER_AGENT.into()),
        ..CaptureOptions::default()
    };
    a.policy.apply(&mut opts)?;
    let labels = Labels {
        entity: a.entity,
        document: a.document,
        note: a.note,
    };
    let (archive, key) = g.open_for_writing(a.init)?;
    let mut emitter = super::Emitter::new(a.ordered, super::progress(urls.len() as u64, "capture"));
    let mut failures: Vec<(usize, String, exhibit::Error)> = Vec::new();
    let mut ok = 0usize;
    let mut handle = |item: capture::BatchItem<Option<BrowserSummary>>| {
        let mut lines = super::Lines::default();
        match item.result {
            Ok((c, summary)) => {
                ok += 1;
                let m = &c.manifest;
                if a.json {
                    let status = m.http.as_ref().map(|h| h.response.status).or_else(|| {
                        // A browser capture: the exchange that delivered the document.
                        m.browser.as_ref().and_then(|b| {
                            b.exchanges
                                .iter()
                                .filter(|e| e.main_frame_navigation)
                                .filter_map(|e| e.response.as_ref())
                                .find(|r| r.body.sha256 == m.document.sha256)
                                .map(|r| r.status)
                        })
                    });
                    let mut line = super::summary_json(m);
                    line["status"] = status.into();
                    line["stored"] = match c.stored {
                        Published::Stored => "new",
                        Published::AlreadyPresent => "deduplicated",
                    }
                    .into();
                    if let Some(b) = &summary {
                        line["browser"] = serde_json::json!({
                            "exchanges": b.exchanges,
                            "parts": m.parts().len(),
                            "failed": b.failed.iter().map(|(u, w)| serde_json::json!({"url": u, "error": w})).collect::<Vec<_>>(),
                        });
                    }
                    lines.out.extend(super::json_line(&line).ok());
                } else {
                    lines.out.push(format!(
                        "{}  {}  {}",
                        esc(&m.record_id),
                        esc(&m.document.sha256),
                        esc(&m.requested_url)
                    ));
                }
                if let Some(b) = summary.filter(|b| !b.failed.is_empty()) {
                    let shown: Vec<String> = b
                        .failed
                        .iter()
                        .take(5)
                        .map(|(u, w)| format!("{} ({})", esc(u), esc(w)))
                        .collect();
                    let more = b.failed.len().saturating_sub(shown.len());
                    lines.err.push(format!(
                        "warning: {}: captured with {} of {} resources failed: {}{}",
                        esc(&m.record_id),
                        b.failed.len(),
                        b.exchanges,
                        shown.join(", "),
                        if more > 0 {
                            format!(" and {more} more (--json lists all)")
                        } else {
                            String::new()
                        }
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
    };
    if a.browser {
        // The page sees the user agent asked for, else Chromium's own: a browser that calls
        // itself exhibit would be served something else than readers get.
        let mut page = exhibit::capture::browser::PageOptions {
            user_agent,
            ..Default::default()
        };
        // A slow server that --timeout allows for must not be cut off by the page's deadline.
        let l = &mut page.limits;
        l.deadline = l.deadline.max(opts.timeout + l.snapshot_reserve);
        // Every page at once is a renderer, a screenshot and a PDF: far more work per URL than
        // a plain fetch, so fewer at a time unless asked.
        browse::capture_many(
            &archive,
            &key,
            &urls,
            &labels,
            &opts,
            &page,
            a.jobs.unwrap_or(2).max(1),
            |item| {
                handle(capture::BatchItem {
                    index: item.index,
                    url: item.url,
                    result: item.result.map(|(c, s)| (c, Some(s))),
                })
            },
        )?;
    } else {
        capture::capture_many(
            &archive,
            &key,
            &urls,
            &labels,
            &opts,
            a.jobs.unwrap_or(8).max(1),
            |item| {
                handle(capture::BatchItem {
                    index: item.index,
                    url: item.url,
                    result: item.result.map(|(c, ())| (c, None)),
                })
            },
        )?;
    }
    emitter.finish();
    let captured = format!(
        "captured {ok} of {}",
        super::count(urls.len(), "URL", "URLs")
    );
    if failures.is_empty() {
        if urls.len() > 1 {
            eprintln!("{captured}");
        }
        return Ok(0);
    }
    failures.sort_by_key(|f| f.0);
    eprintln!("{captured}; {}", super::failure_summary(&failures));
    Ok(failures[0].2.kind.exit_code())
}
