//! Browser capture into one record (`exhibit capture --browser`, manifest version 5).
//!
//! The engine (browser/) renders the page with exhibit as its only network; here that network
//! is exhibit's own HTTP client with the rules of plain capture (address policy, no proxy from
//! the environment, limits), and every body it hands the browser is staged as a document while
//! it streams in. When the page is done, the screenshot, PDF and DOM are staged too and the
//! whole capture becomes one [`Draft`]: the cited document is the main document's body, and
//! the `browser` object names every other body and view by SHA-256 (docs/FORMAT.md 1.5, 5.10).
//! If anything fails before the draft exists, every staged blob is dropped with it: nothing of a
//! half capture reaches the store.

use super::browser::{
    Browser, BrowserConfig, BrowserRequest, BrowserResponse, FailureKind, FetchFailure, Network,
    Outcome, PageCapture, PageOptions,
};
use super::{check_hop, html_title, read_body, request_error, text_fingerprint, RequestFailure};
use super::{BatchItem, CaptureOptions, ACCEPT_ENCODING};
use crate::archive::dir::Dir;
use crate::archive::{Archive, Draft};
use crate::error::{Error, Result};
use crate::manifest::{self, Attachment, BrowserFacts, DocumentFacts, Header, Labels, Method};
use crate::store::{DocumentWriter, Staged};
use reqwest::blocking::Client;
use reqwest::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What a browser capture reports besides its record: how many exchanges, which failed.
#[derive(Debug, Clone, Default)]
pub struct BrowserSummary {
    pub exchanges: usize,
    /// URL and what went wrong ("404", "timeout: ..."), in the order the browser asked.
    pub failed: Vec<(String, String)>,
}

/// The browser's network for one page: exhibit's HTTP client, staging every body it delivers.
struct PageNetwork {
    client: super::Clients,
    opts: CaptureOptions,
    scratch: Arc<Dir>,
    /// Bodies by SHA-256. A fetch that outlives its page (the engine allows that, up to the
    /// fetch's own deadline) adds to a map nobody takes any more: dropped with the network.
    staged: Mutex<HashMap<String, Staged>>,
    /// The TLS connection of each https request, by URL (its certificates are in `staged`).
    tls: Mutex<HashMap<String, manifest::TlsConnection>>,
}

fn failed(kind: FailureKind, what: impl Into<String>) -> FetchFailure {
    FetchFailure::new(kind, what)
}

impl Network for PageNetwork {
    fn fetch(&self, req: &BrowserRequest) -> std::result::Result<BrowserResponse, FetchFailure> {
        let url = url::Url::parse(&req.url)
            .map_err(|e| failed(FailureKind::Blocked, format!("not a URL: {e}")))?;
        check_hop(&url, None, &self.opts).map_err(|e| failed(FailureKind::Blocked, e.what))?;
        let start = Instant::now();
        let deadline = req.deadline.min(start + self.opts.timeout);
        let remaining = deadline
            .checked_duration_since(start)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| failed(FailureKind::Timeout, "no time left for this request"))?;
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| failed(FailureKind::Blocked, "not an HTTP method"))?;
        let idempotent = matches!(method, reqwest::Method::GET | reqwest::Method::HEAD);
        let send = |client: &Client, remaining: std::time::Duration| {
            let mut rb = client
                .request(method.clone(), url.clone())
                .timeout(remaining);
            for (n, v) in &req.headers {
                // The client sets these itself; content-codings are removed below, so exhibit
                // asks for the ones it can decode.
                if ["host", "content-length", "accept-encoding", "connection"]
                    .iter()
                    .any(|h| n.eq_ignore_ascii_case(h))
                {
                    continue;
                }
                rb = rb.header(n.as_str(), v.as_str());
            }
            rb = rb.header("accept-encoding", ACCEPT_ENCODING);
            if let Some(b) = &req.body {
                rb = rb.body(b.clone());
            }
            rb.send()
        };
        // A kept-alive connection the server closed as the request went out (no complete
        // response head came): a GET or HEAD is sent again once, on a new connection.
        let started = self.client.connects.started();
        let response = match send(&self.client.pooled, remaining) {
            Err(e)
                if idempotent
                    && super::closed_before_answer(
                        &e,
                        self.client.connects.started() == started,
                    ) =>
            {
                match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => send(&self.client.fresh, left),
                    _ => Err(e),
                }
            }
            other => other,
        };
        let response = response.map_err(|e| {
            let what = request_error(&e, &url, None, &self.opts).what;
            let kind = match super::request_failure(&e) {
                RequestFailure::Timeout => FailureKind::Timeout,
                RequestFailure::Refused => FailureKind::Blocked,
                RequestFailure::NotResolved => FailureKind::NotResolved,
                RequestFailure::Connect => FailureKind::Refused,
                RequestFailure::HeadTooLarge | RequestFailure::Other => FailureKind::Other,
            };
            failed(kind, what)
        })?;
        if url.scheme() == "https" {
            let mut certs = HashMap::new();
            let c = crate::capture::tls_connection(
                response.extensions().get::<reqwest::tls::TlsInfo>(),
                &url,
                &self.opts,
                &self.scratch,
                &mut certs,
            )
            .map_err(|e| failed(FailureKind::Other, e.what))?;
            self.staged
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(certs);
            self.tls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(req.url.clone(), c);
        }
        let status = response.status().as_u16();
        let headers: Vec<(String, Vec<u8>)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        let text = |name| {
            response.headers().get(name).map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .trim()
                    .to_ascii_lowercase()
            })
        };
        let encoding = text(CONTENT_ENCODING).filter(|e| !e.is_empty() && e != "identity");
        let claimed = text(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        let mut opts = self.opts.clone();
        opts.max_size = opts.max_size.min(req.max_body_bytes);
        let mut writer = DocumentWriter::create(&self.scratch, opts.max_size)
            .map_err(|e| failed(FailureKind::Other, e.what))?;
        read_body(
            response,
            encoding.as_deref(),
            &mut writer,
            deadline,
            &opts,
            &url,
            claimed,
        )
        .map_err(|e| {
            let kind = if Instant::now() >= deadline {
                FailureKind::Timeout
            } else if e
                .source
                .as_ref()
                .is_some_and(|s| s.is::<crate::store::SizeLimitExceeded>())
            {
                FailureKind::TooLarge
            } else {
                FailureKind::Other
            };
            failed(kind, e.what)
        })?;
        let staged = writer
            .finish()
            .map_err(|e| failed(FailureKind::Other, e.what))?;
        // The browser needs the body in memory anyway; reading the staged blob back gives it
        // exactly the bytes that were hashed and will be stored.
        let mut body = Vec::with_capacity(staged.size as usize);
        staged
            .read(&mut body)
            .map_err(|e| failed(FailureKind::Other, e.to_string()))?;
        let mut map = self.staged.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(staged.sha256.to_string()).or_insert(staged);
        Ok(BrowserResponse {
            status,
            headers,
            body,
        })
    }
}

/// Stage bytes the engine produced (screenshot, PDF, DOM) as a document.
fn headers_of(h: &[(String, Vec<u8>)], redact: &[String]) -> Vec<Header> {
    h.iter()
        .map(|(n, v)| {
            if redact.contains(&n.to_ascii_lowercase()) {
                Header::new(n, manifest::REDACTED.as_bytes())
            } else {
                Header::new(n, v)
            }
        })
        .collect()
}

fn as_word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Load `input` in `browser` and stage everything it rendered as one draft.
pub fn capture_page(
    browser: &Browser,
    client: &super::Clients,
    input: &str,
    opts: &CaptureOptions,
    page: &PageOptions,
    scratch: &Arc<Dir>,
    labels: Labels,
) -> Result<(Draft, BrowserSummary)> {
    let requested = super::parse_fetch_url(input)?;
    check_hop(&requested, None, opts)?;
    let net = Arc::new(PageNetwork {
        client: client.clone(),
        opts: opts.clone(),
        scratch: scratch.clone(),
        staged: Mutex::default(),
        tls: Mutex::default(),
    });
    let cap = browser.capture(requested.as_str(), net.clone(), page)?;
    let bodies = std::mem::take(&mut *net.staged.lock().unwrap_or_else(|p| p.into_inner()));
    let tls = std::mem::take(&mut *net.tls.lock().unwrap_or_else(|p| p.into_inner()));
    draft_of(&cap, bodies, tls, opts, scratch, labels)
}

fn draft_of(
    cap: &PageCapture,
    mut bodies: HashMap<String, Staged>,
    tls: HashMap<String, manifest::TlsConnection>,
    opts: &CaptureOptions,
    scratch: &Arc<Dir>,
    labels: Labels,
) -> Result<(Draft, BrowserSummary)> {
    let main = cap.main_document().ok_or_else(|| {
        Error::fetch(format!(
            "{}: the browser received no main document; nothing was stored",
            cap.requested_url
        ))
        .hint("check the URL in a browser")
    })?;
    let (status, main_headers, main_sha) = match &main.outcome {
        Outcome::Response {
            status,
            headers,
            sha256,
            ..
        } => (*status, headers, sha256.clone()),
        Outcome::Failed(_) => unreachable!("main_document has a response"),
    };
    // The navigation asked for no range (only media requests of the page do), so a 206 main
    // document is a piece of the page, refused as plain capture refuses it.
    if status == 206 {
        return Err(super::partial_content_error(&main.url));
    }
    if status >= 400 && !opts.allow_status {
        return Err(Error::fetch(format!(
            "{} answered {status}; nothing was stored",
            main.url
        ))
        .hint("check the URL, or pass --allow-status to archive the error page as it is"));
    }
    let not_kept = |url: &str| {
        Error::fetch(format!(
            "the body the browser got for {url} was not kept; nothing was stored"
        ))
        .hint("this is a bug in exhibit; please report it")
    };
    let mut document = bodies
        .remove(&main_sha)
        .ok_or_else(|| not_kept(&main.url))?;
    let mut parts: HashMap<String, Staged> = HashMap::new();
    let mut attachments = Vec::new();
    let views: [&[u8]; 3] = [&cap.screenshot.png, &cap.pdf, cap.dom.as_bytes()];
    for ((role, media_type), bytes) in manifest::ATTACHMENT_ROLES.into_iter().zip(views) {
        let s = crate::capture::stage_bytes(scratch, bytes, "a browser view")?;
        attachments.push(Attachment {
            role: role.into(),
            media_type: media_type.into(),
            sha256: s.sha256.to_string(),
            size: s.size,
        });
        if s.sha256 != main_sha {
            parts.entry(s.sha256.to_string()).or_insert(s);
        }
    }
    let mut exchanges = Vec::with_capacity(cap.exchanges.len());
    let mut summary = BrowserSummary {
        exchanges: cap.exchanges.len(),
        failed: Vec::new(),
    };
    // The browser keeps a cookie jar: what a redacted Set-Cookie set comes back in the Cookie
    // request header of later requests, so that is redacted with it.
    let mut redact = opts.redact_headers.clone();
    if redact.iter().any(|n| n == "set-cookie") {
        redact.push("cookie".into());
        redact.sort();
        redact.dedup();
    }
    let redact = &redact;
    for e in &cap.exchanges {
        let (response, error) = match &e.outcome {
            Outcome::Response {
                status,
                headers,
                body_size,
                sha256,
            } => {
                if *sha256 != main_sha && !parts.contains_key(sha256) {
                    let s = bodies.remove(sha256).ok_or_else(|| not_kept(&e.url))?;
                    parts.insert(sha256.clone(), s);
                }
                let conn = tls.get(&e.url).cloned();
                for p in conn.iter().flat_map(|c| &c.chain) {
                    if p.sha256 != main_sha && !parts.contains_key(&p.sha256) {
                        let s = bodies.remove(&p.sha256).ok_or_else(|| not_kept(&e.url))?;
                        parts.insert(p.sha256.clone(), s);
                    }
                }
                let r = manifest::BrowserResponseFacts {
                    status: *status,
                    headers: headers_of(headers, redact),
                    body: manifest::Payload {
                        sha256: sha256.clone(),
                        size: *body_size,
                    },
                    tls: conn,
                };
                let error = e.browser_error.as_ref().map(|b| manifest::ExchangeError {
                    kind: "browser".into(),
                    message: b.clone(),
                });
                (Some(r), error)
            }
            Outcome::Failed(f) => (
                None,
                Some(manifest::ExchangeError {
                    kind: f.kind.as_str().into(),
                    message: f.message.clone(),
                }),
            ),
        };
        if e.failed() {
            let what = match (&response, &error) {
                (_, Some(err)) => format!("{}: {}", err.kind, err.message),
                (Some(r), None) => r.status.to_string(),
                (None, None) => "failed".into(),
            };
            summary.failed.push((e.url.clone(), what));
        }
        exchanges.push(manifest::BrowserExchange {
            url: e.url.clone(),
            method: e.method.clone(),
            resource_type: e.resource_type.clone(),
            main_frame_navigation: e.main_frame_navigation,
            request_headers: e
                .request_headers
                .iter()
                .map(|(n, v)| {
                    if redact.contains(&n.to_ascii_lowercase()) {
                        Header::new(n, manifest::REDACTED.as_bytes())
                    } else {
                        Header::new(n, v.as_bytes())
                    }
                })
                .collect(),
            request_body_sha256: e.request_body_sha256.clone(),
            started_ms: e.started_ms,
            duration_ms: e.duration_ms,
            failed: e.failed(),
            response,
            error,
        });
    }
    let p = &cap.provenance;
    let l = &p.limits;
    let t = &cap.timings;
    let browser = BrowserFacts {
        software: manifest::BrowserSoftware {
            name: p.browser.name.clone(),
            version: p.browser.version.clone(),
            product: p.browser.product.clone(),
            revision: p.browser.revision.clone(),
            protocol_version: p.browser.protocol_version.clone(),
            js_version: p.browser.js_version.clone(),
            executable: p.browser.executable.clone(),
            sandbox: p.browser.sandbox,
            flags: p.browser.flags.clone(),
        },
        user_agent: p.user_agent.clone(),
        viewport: manifest::Viewport {
            width: p.viewport_width,
            height: p.viewport_height,
            device_scale_milli: (p.device_scale_factor * 1000.0).round() as u32,
        },
        limits: manifest::BrowserLimits {
            deadline_ms: l.deadline.as_millis() as u64,
            snapshot_reserve_ms: l.snapshot_reserve.as_millis() as u64,
            settle_quiet_ms: l.settle_quiet.as_millis() as u64,
            settle_max_ms: l.settle_max.as_millis() as u64,
            max_resources: l.max_resources as u64,
            max_total_bytes: l.max_total_bytes,
            max_navigations: l.max_navigations as u64,
            max_screenshot_height: l.max_screenshot_height,
            max_pdf_pages: l.max_pdf_pages,
            max_pdf_bytes: l.max_pdf_bytes,
            max_dom_bytes: l.max_dom_bytes as u64,
        },
        timings: manifest::BrowserTimings {
            started_at: t.started_at.clone(),
            navigation_start_ms: t.navigation_start_ms,
            dom_content_loaded_ms: t.dom_content_loaded_ms,
            load_ms: t.load_ms,
            settled_ms: t.settled_ms,
            settle: as_word(&t.settle),
            total_ms: t.total_ms,
        },
        title: cap.title.clone(),
        final_url: cap.final_url.clone(),
        screenshot: manifest::ScreenshotFacts {
            width: cap.screenshot.width,
            height: cap.screenshot.height,
            page_height: cap.screenshot.page_height,
            truncated: cap.screenshot.truncated,
        },
        events: cap
            .events
            .iter()
            .map(|ev| manifest::BrowserEvent {
                kind: as_word(&ev.kind),
                url: ev.url.clone(),
                detail: ev.detail.clone(),
                at_ms: ev.at_ms,
            })
            .collect(),
        exchanges,
        attachments,
        proxy: opts.proxy.as_ref().map(|p| p.to_string()),
        redacted_headers: redact.clone(),
    };
    let content_type = main_headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string());
    let title = html_title(content_type.as_deref(), &document.head);
    let text_fingerprint = text_fingerprint(content_type.as_deref(), &mut document);
    let captured_at = if manifest::is_canonical_time(&t.started_at) {
        t.started_at.clone()
    } else {
        manifest::now()
    };
    let mut parts: Vec<Staged> = parts.into_values().collect();
    parts.sort_by_key(|a| a.sha256);
    Ok((
        Draft {
            method: Method::Capture,
            requested_url: cap.requested_url.clone(),
            final_url: main.url.clone(),
            captured_at,
            document: DocumentFacts {
                sha256: document.sha256.to_string(),
                size: document.size,
                content_type,
                title,
                text_fingerprint,
            },
            http: None,
            warc: None,
            browser: Some(Box::new(browser)),
            parts,
            labels,
            change: None,
            staged: Some(document),
        },
        summary,
    ))
}

/// `exhibit capture --browser`: one headless Chromium for the batch, `jobs` pages at once, each
/// page committed as one record as soon as it is done. A browser that stops answering (or dies)
/// is replaced once the page that found out has failed, so one bad page does not fail the rest.
#[allow(clippy::too_many_arguments)]
pub fn capture_many(
    archive: &Archive,
    key: &crate::keys::SecretKey,
    urls: &[String],
    labels: &Labels,
    opts: &CaptureOptions,
    page: &PageOptions,
    jobs: usize,
    report: impl FnMut(BatchItem<BrowserSummary>),
) -> Result<()> {
    let client = super::client(opts)?;
    let config = BrowserConfig::default();
    let current = Mutex::new(Arc::new(Browser::launch(&config)?));
    let browser = || current.lock().unwrap_or_else(|p| p.into_inner()).clone();
    super::pipeline(
        archive,
        key,
        urls,
        jobs,
        |url, scratch| {
            let b = browser();
            let result = capture_page(&b, &client, url, opts, page, scratch, labels.clone());
            if result.is_err() && !b.responsive(std::time::Duration::from_secs(5)) {
                let mut slot = current.lock().unwrap_or_else(|p| p.into_inner());
                // Another worker may have replaced it already.
                if Arc::ptr_eq(&slot, &b) {
                    if let Ok(fresh) = Browser::launch(&config) {
                        *slot = Arc::new(fresh);
                    }
                }
            }
            result
        },
        report,
    )
}
