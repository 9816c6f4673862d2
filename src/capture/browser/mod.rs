//! The browser engine: load a page in headless Chromium with exhibit as the browser's only
//! network, and return what a reader saw (docs/BROWSER.md).
//!
//! The engine never fetches anything. Every request the page makes (the document, CSS, scripts,
//! images, fonts, XHR/fetch, iframes, workers) is paused by the DevTools `Fetch` domain and handed
//! to the caller's [`Network`]; the browser is fulfilled with exactly the status, headers and body
//! the `Network` returned, and the exchange is recorded with the SHA-256 of those bytes. So what
//! the screenshot, the PDF and the DOM show was rendered from exactly the recorded bytes.
//! A request that escaped interception would meet a proxy that refuses every connection
//! (chromium.rs), so it fails instead of reaching the network.
//!
//! Use: [`Browser::launch`] once, then [`Browser::capture`] per page (from several threads at
//! once if wanted: each capture gets its own browser context, with its own cookies and cache).
//! The browser and all its processes are killed when the [`Browser`] is dropped, also on errors
//! and panics, and when exhibit itself is killed.

mod cdp;
mod chromium;
mod page;

pub use cdp::{clip, BadMessage, Event as CdpEvent, FrameTooLong, Framer, Message as CdpMessage};
pub use chromium::{find_chromium, running_as_root, ENV_CHROMIUM, INSTALL_HINT};

use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request the page made, as the browser would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserRequest {
    /// Absolute http(s) URL, without user name or password (the engine refuses those).
    pub url: String,
    pub method: String,
    /// Headers as the browser set them at the request stage (Chromium adds cookies and
    /// `Accept-Encoding` later in its own network stack, which is not used).
    pub headers: Vec<(String, String)>,
    /// The request body (POST data), when there is one.
    pub body: Option<Vec<u8>>,
    /// Chromium's resource type: Document, Stylesheet, Image, Media, Font, Script, XHR, Fetch,
    /// Other, ...
    pub resource_type: String,
    /// After this instant the answer is no longer wanted (the page's deadline): give up by then.
    pub deadline: Instant,
    /// What is left of the page's byte budget: a longer body will be refused, so the network
    /// may stop reading at this size.
    pub max_body_bytes: u64,
}

/// The answer the browser gets, and the engine records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserResponse {
    /// A final status, 200..=599 (redirects included: the browser follows them by asking again).
    pub status: u16,
    /// Headers as received from the server, in order; recorded as they are. The browser gets
    /// them all except `Content-Encoding`, `Content-Length`, `Transfer-Encoding`, `Connection`
    /// and `Keep-Alive`, which describe the wire and not `body`.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The payload with any content-coding removed (what `curl --compressed` saves): Chromium
    /// does not decode a fulfilled body, so a gzip body would be shown as gzip bytes.
    pub body: Vec<u8>,
}

/// Why a fetch (or the engine) did not produce a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No answer in time.
    Timeout,
    /// The connection was refused or reset.
    Refused,
    /// The host name does not resolve.
    NotResolved,
    /// The body is larger than allowed.
    TooLarge,
    /// Refused by policy: a non-http(s) scheme, credentials in the URL, a private address, a
    /// service worker, ...
    Blocked,
    /// A cap of the page was reached (resources, bytes, navigations).
    LimitReached,
    /// Still waiting for an answer when the capture ended (long polling, a hung server).
    StillPending,
    /// Anything else (TLS, malformed response, ...).
    Other,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Refused => "refused",
            FailureKind::NotResolved => "not_resolved",
            FailureKind::TooLarge => "too_large",
            FailureKind::Blocked => "blocked",
            FailureKind::LimitReached => "limit_reached",
            FailureKind::StillPending => "still_pending",
            FailureKind::Other => "other",
        }
    }

    /// The `Fetch.failRequest` reason the page sees.
    fn error_reason(self) -> &'static str {
        match self {
            FailureKind::Timeout => "TimedOut",
            FailureKind::Refused => "ConnectionRefused",
            FailureKind::NotResolved => "NameNotResolved",
            FailureKind::TooLarge => "Failed",
            FailureKind::Blocked | FailureKind::LimitReached => "BlockedByClient",
            FailureKind::StillPending => "Aborted",
            FailureKind::Other => "Failed",
        }
    }
}

/// A failed fetch: what kind, and one line saying what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchFailure {
    pub kind: FailureKind,
    pub message: String,
}

impl FetchFailure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> FetchFailure {
        FetchFailure {
            kind,
            message: clip(&message.into(), 500),
        }
    }
}

/// The browser's network: the caller fetches each request, with its own client, limits and
/// recording. Called from several worker threads at once (at most `Limits::parallel_fetches`
/// per page); a call may outlive the capture that asked for it by up to its own timeout, so it
/// must honour `BrowserRequest::deadline`.
pub trait Network: Send + Sync {
    fn fetch(&self, request: &BrowserRequest)
        -> std::result::Result<BrowserResponse, FetchFailure>;
}

/// Bounds on one page. Every hostile page ends within `deadline` plus the few seconds it takes
/// to stop the browser.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    /// The whole capture of one page: loading, settling, screenshot, DOM and PDF.
    #[serde(serialize_with = "ser_ms", rename = "deadline_ms")]
    pub deadline: Duration,
    /// The part of `deadline` kept back for the screenshot, DOM and PDF: loading stops at
    /// `deadline - snapshot_reserve` at the latest.
    #[serde(serialize_with = "ser_ms", rename = "snapshot_reserve_ms")]
    pub snapshot_reserve: Duration,
    /// The page has settled once it has loaded and no request was pending for this long.
    #[serde(serialize_with = "ser_ms", rename = "settle_quiet_ms")]
    pub settle_quiet: Duration,
    /// After the page has loaded, stop waiting for quiet after this long (long polling, endless
    /// activity): requests still pending are then recorded as failed "still pending".
    #[serde(serialize_with = "ser_ms", rename = "settle_max_ms")]
    pub settle_max: Duration,
    /// Requests answered per page (later ones fail with "limit reached").
    pub max_resources: usize,
    /// Response body bytes per page (a response that would pass it is refused).
    pub max_total_bytes: u64,
    /// Main-frame navigations (HTTP redirect hops and client-side redirects); one more is
    /// refused and the capture fails: a redirect loop never settles.
    pub max_navigations: usize,
    /// Tallest screenshot, CSS pixels; a taller page is cut there (and says so).
    pub max_screenshot_height: u32,
    /// Pages printed into the PDF.
    pub max_pdf_pages: u32,
    /// Largest PDF accepted.
    pub max_pdf_bytes: u64,
    /// Largest rendered DOM accepted.
    pub max_dom_bytes: usize,
    /// Requests fetched at the same time for one page.
    pub parallel_fetches: usize,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(60),
            snapshot_reserve: Duration::from_secs(15),
            settle_quiet: Duration::from_millis(500),
            settle_max: Duration::from_secs(10),
            max_resources: 1000,
            max_total_bytes: 256 << 20,
            max_navigations: 20,
            max_screenshot_height: 16384,
            max_pdf_pages: 100,
            max_pdf_bytes: 64 << 20,
            max_dom_bytes: 64 << 20,
            parallel_fetches: 6,
        }
    }
}

/// How one page is shown.
#[derive(Debug, Clone, PartialEq)]
pub struct PageOptions {
    /// CSS pixels; the screenshot has this width.
    pub viewport_width: u32,
    /// CSS pixels; the screenshot is at least this tall.
    pub viewport_height: u32,
    pub device_scale_factor: f64,
    /// Replaces Chromium's own user agent (which says HeadlessChrome) when set.
    pub user_agent: Option<String>,
    pub limits: Limits,
}

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions {
            viewport_width: 1280,
            viewport_height: 800,
            device_scale_factor: 1.0,
            user_agent: None,
            limits: Limits::default(),
        }
    }
}

/// How the browser is started.
#[derive(Debug, Clone, Default)]
pub struct BrowserConfig {
    /// The Chromium executable; `None`: `EXHIBIT_CHROMIUM`, else `chromium` on PATH.
    pub executable: Option<PathBuf>,
    /// `None`: Chromium's sandbox on, except when running as root, where Chromium cannot
    /// start it (`--no-sandbox`, recorded in the provenance). `Some(true)` insists on it (so as
    /// root the launch fails), `Some(false)` turns it off.
    pub sandbox: Option<bool>,
    /// The JavaScript heap of each renderer, MiB (`--js-flags=--max-old-space-size`); a page
    /// that needs more crashes its renderer and the capture fails. `None`: 1024.
    pub js_heap_mib: Option<u32>,
}

/// Default of [`BrowserConfig::js_heap_mib`].
pub const DEFAULT_JS_HEAP_MIB: u32 = 1024;

/// What `Browser.getVersion` says, plus how exhibit started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrowserInfo {
    /// "Chromium".
    pub name: String,
    /// The exact version, e.g. "156.0.8078.114".
    pub version: String,
    /// `product`, e.g. "Chrome/156.0.8078.114".
    pub product: String,
    pub revision: String,
    pub protocol_version: String,
    pub js_version: String,
    /// The browser's own user agent.
    pub user_agent: String,
    pub executable: String,
    pub sandbox: bool,
    /// The browser's command line as it runs (the Debian launcher adds its own flags), without
    /// the program name; the temporary profile directory and the refusing proxy's port are
    /// written as `<profile>` and `<refusing-proxy>`.
    pub flags: Vec<String>,
}

/// One request and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// Order in which the browser asked (0 = the first request, normally the document).
    pub seq: usize,
    pub url: String,
    pub method: String,
    pub resource_type: String,
    /// Whether the request was for the top-level document (a navigation of the main frame).
    pub main_frame_navigation: bool,
    pub request_headers: Vec<(String, String)>,
    /// SHA-256 (hex) and size of the request body, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body_sha256: Option<String>,
    /// Milliseconds from the start of the capture to the request.
    pub started_ms: u64,
    /// Milliseconds until the answer was given to the browser (or the failure recorded).
    pub duration_ms: u64,
    pub outcome: Outcome,
    /// The browser refused the response given (malformed header, status, ...): the page saw a
    /// failed request instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Outcome {
    /// The browser got this response: exactly `body_size` bytes with this SHA-256 (hex).
    Response {
        status: u16,
        #[serde(serialize_with = "ser_headers")]
        headers: Vec<(String, Vec<u8>)>,
        body_size: u64,
        sha256: String,
    },
    Failed(FetchFailure),
}

fn ser_headers<S: serde::Serializer>(
    h: &[(String, Vec<u8>)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(h.len()))?;
    for (n, v) in h {
        seq.serialize_element(&(n, String::from_utf8_lossy(v)))?;
    }
    seq.end()
}

impl Exchange {
    /// Failed: no response, or an error status (400 and above).
    pub fn failed(&self) -> bool {
        match &self.outcome {
            Outcome::Response { status, .. } => *status >= 400 || self.browser_error.is_some(),
            Outcome::Failed(_) => true,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            Outcome::Response { status, .. } => Some(*status),
            Outcome::Failed(_) => None,
        }
    }

    pub fn sha256(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Response { sha256, .. } => Some(sha256),
            Outcome::Failed(_) => None,
        }
    }
}

/// Something the page did that is not an exchange and that a reader of the record should know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageEvent {
    pub kind: EventKind,
    /// The URL concerned (popup target, download, WebSocket, worker script), if any.
    pub url: String,
    /// Dialog text, suggested file name, browser error, which limit, ...
    pub detail: String,
    pub at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// alert/confirm/prompt/beforeunload: dismissed. `detail` is "TYPE: message".
    Dialog,
    /// window.open or a target=_blank navigation: no window was opened.
    Popup,
    /// A download: denied.
    Download,
    /// A WebSocket: blocked (it can only reach the refusing proxy).
    WebSocket,
    /// A service worker: its script fetch refused, so it never runs.
    ServiceWorker,
    /// A request the browser itself refused or that never reached the engine (mixed content,
    /// CSP, a scheme it will not load, ...); `detail` is the browser's error.
    BrowserBlocked,
    /// A cap of [`Limits`] was reached; `detail` says which.
    LimitReached,
}

/// How waiting for the page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Settle {
    /// Loaded, and no request for `settle_quiet`.
    Quiet,
    /// Loaded, but requests kept coming or stayed pending for `settle_max`.
    SettleCap,
    /// The deadline came first (the load event may be missing).
    Deadline,
}

/// Milliseconds from the start of the capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// Wall-clock time the capture started, in the manifest's form (`2026-01-02T03:04:05Z`).
    pub started_at: String,
    /// `Page.navigate` sent.
    pub navigation_start_ms: u64,
    /// Of the last main-frame document.
    pub dom_content_loaded_ms: Option<u64>,
    pub load_ms: Option<u64>,
    /// Waiting ended (see `settle`).
    pub settled_ms: u64,
    pub settle: Settle,
    /// Everything done.
    pub total_ms: u64,
}

/// A PNG of the page from the top, `width` CSS pixels wide and `height` tall.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Screenshot {
    #[serde(skip)]
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The page's full height, CSS pixels, when the screenshot was taken.
    pub page_height: u32,
    /// The page was taller than `Limits::max_screenshot_height`: only the top is shown.
    pub truncated: bool,
}

impl std::fmt::Debug for Screenshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screenshot")
            .field("png_bytes", &self.png.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .field("page_height", &self.page_height)
            .field("truncated", &self.truncated)
            .finish()
    }
}

/// The provenance of one capture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    pub browser: BrowserInfo,
    /// The user agent the page saw.
    pub user_agent: String,
    pub viewport_width: u32,
    pub viewport_height: u32,
    pub device_scale_factor: f64,
    pub limits: Limits,
}

/// Everything one capture produced.
#[derive(Clone, PartialEq, Serialize)]
pub struct PageCapture {
    pub requested_url: String,
    /// The main frame's URL when the snapshot was taken (after HTTP and client-side redirects).
    pub final_url: String,
    pub title: String,
    /// Every request, in the order the browser made them.
    pub exchanges: Vec<Exchange>,
    pub events: Vec<PageEvent>,
    /// The rendered DOM, serialized as HTML (UTF-8) after scripts ran.
    #[serde(skip)]
    pub dom: String,
    pub screenshot: Screenshot,
    /// `Page.printToPDF` of the page (backgrounds printed, at most `max_pdf_pages` pages).
    #[serde(skip)]
    pub pdf: Vec<u8>,
    pub timings: Timings,
    pub provenance: Provenance,
}

impl std::fmt::Debug for PageCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCapture")
            .field("requested_url", &self.requested_url)
            .field("final_url", &self.final_url)
            .field("title", &self.title)
            .field("exchanges", &self.exchanges)
            .field("events", &self.events)
            .field("dom_bytes", &self.dom.len())
            .field("screenshot", &self.screenshot)
            .field("pdf_bytes", &self.pdf.len())
            .field("timings", &self.timings)
            .finish()
    }
}

impl PageCapture {
    /// The exchanges that failed (no response, or status 400 and above): a reader can tell a
    /// complete capture from a partial one.
    pub fn failed(&self) -> Vec<&Exchange> {
        self.exchanges.iter().filter(|e| e.failed()).collect()
    }

    /// The exchange that delivered the final main-frame document.
    pub fn main_document(&self) -> Option<&Exchange> {
        self.exchanges
            .iter()
            .rev()
            .find(|e| e.main_frame_navigation && e.status().is_some_and(|s| !is_redirect(s)))
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// A running headless Chromium. Dropping it kills the browser and all its processes and
/// removes its temporary profile.
pub struct Browser {
    conn: Arc<cdp::Connection>,
    process: chromium::Process,
    dead_port: chromium::DeadPort,
    info: BrowserInfo,
    /// Declared last: removed after the processes that use it are gone.
    _profile: crate::core::interrupt::Tracked<tempfile::TempDir>,
}

/// How long the browser gets to start and answer its first command.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);

impl Browser {
    /// Starts Chromium (see [`BrowserConfig`]) and waits until it answers.
    pub fn launch(config: &BrowserConfig) -> Result<Browser> {
        let exe = find_chromium(config.executable.as_deref())?;
        let sandbox = config.sandbox.unwrap_or(!running_as_root());
        let profile = crate::core::interrupt::temp_dir("exhibit-chromium-")
            .map_err(|e| Error::fetch(format!("cannot create a browser profile: {e}")))?;
        let dead_port = chromium::DeadPort::bind()
            .map_err(|e| Error::fetch(format!("cannot reserve a loopback port: {e}")))?;
        let heap = config.js_heap_mib.unwrap_or(DEFAULT_JS_HEAP_MIB).max(16);
        let mut args: Vec<OsString> = launch_flags(sandbox, &dead_port.proxy(), heap)
            .into_iter()
            .map(OsString::from)
            .collect();
        let mut udd = OsString::from("--user-data-dir=");
        udd.push(profile.path());
        args.push(udd);
        args.push("about:blank".into());
        let stderr_path = profile.path().join("chromium-stderr.log");
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|e| Error::fetch(format!("cannot create a browser profile: {e}")))?;
        let launched = chromium::launch(&exe, &args, stderr)?;
        let conn = cdp::Connection::start(launched.to_browser, launched.from_browser)
            .map_err(|e| Error::fetch(format!("cannot start the DevTools connection: {e}")))?;
        let process = launched.process;
        let version = conn.call(None, "Browser.getVersion", json!({}), LAUNCH_TIMEOUT);
        let version = match version {
            Ok(v) => v,
            Err(e) => {
                conn.close("launch failed".into());
                process.kill();
                let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                return Err(launch_error(&exe, &e, &log, sandbox));
            }
        };
        let s = |k: &str| {
            version
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let product = s("product");
        let flags = read_cmdline(process.pid)
            .into_iter()
            .map(|a| {
                let a = a.replace(&profile.path().display().to_string(), "<profile>");
                a.replace(&dead_port.proxy(), "<refusing-proxy>")
            })
            .collect();
        let info = BrowserInfo {
            name: "Chromium".into(),
            version: product.split('/').nth(1).unwrap_or("").to_string(),
            product,
            revision: s("revision"),
            protocol_version: s("protocolVersion"),
            js_version: s("jsVersion"),
            user_agent: s("userAgent"),
            executable: exe.display().to_string(),
            sandbox,
            flags,
        };
        Ok(Browser {
            conn,
            process,
            dead_port,
            info,
            _profile: profile,
        })
    }

    pub fn info(&self) -> &BrowserInfo {
        &self.info
    }

    /// Loads `url` with `network` as the browser's network and returns what was rendered.
    ///
    /// Errors (one line each): a URL that is not http(s) or has credentials; the page could not
    /// be loaded (its document failed); a redirect loop (more than `max_navigations`); the
    /// renderer crashed; the browser stopped answering (then drop this `Browser`: see
    /// [`Browser::is_alive`]); a snapshot over its cap. A failed subresource is not an error: it
    /// is recorded in the exchanges. A panic in `network` is resumed on the caller's thread
    /// after the page is closed.
    pub fn capture(
        &self,
        url: &str,
        network: Arc<dyn Network>,
        options: &PageOptions,
    ) -> Result<PageCapture> {
        page::capture(self, url, network, options)
    }

    /// Whether the browser still runs and answers.
    pub fn is_alive(&self) -> bool {
        self.conn.is_open() && self.process.exit_status().is_none()
    }

    /// Whether the browser answers a command within `timeout`. After a capture failed because
    /// the browser did not answer, a caller checks this and launches a new one if not.
    pub fn responsive(&self, timeout: Duration) -> bool {
        self.is_alive()
            && self
                .conn
                .call(None, "Browser.getVersion", json!({}), timeout)
                .is_ok()
    }

    /// The browser's process and all its descendants (renderers, GPU and utility processes).
    pub fn process_ids(&self) -> Vec<u32> {
        self.process.tree()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.conn.close("the browser was closed".into());
        self.process.kill();
    }
}

/// Whether `pid` is a living process (for checks that no browser process outlives its
/// [`Browser`]).
pub fn process_alive(pid: u32) -> bool {
    chromium::is_alive(pid)
}

/// The flags exhibit starts Chromium with (the profile directory is added after them).
fn launch_flags(sandbox: bool, refusing_proxy: &str, js_heap_mib: u32) -> Vec<String> {
    let mut f: Vec<String> = [
        "--headless",
        "--remote-debugging-pipe",
        // Nothing of the browser's own: no updates, sync, metrics, safe browsing, translation.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-breakpad",
        "--no-first-run",
        "--no-default-browser-check",
        "--no-pings",
        "--password-store=basic",
        "--use-mock-keychain",
        "--mute-audio",
        "--disable-gpu",
        "--disable-quic",
        // Same colours on every machine, no scrollbar in full-page screenshots.
        "--force-color-profile=srgb",
        "--hide-scrollbars",
        // window.open and target=_blank open nothing (the attempt is recorded).
        "--block-new-web-contents",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every connection the browser would open itself goes to a port that refuses it.
    f.push(format!("--proxy-server={refusing_proxy}"));
    // A page that allocates without end crashes its renderer here, not the machine.
    f.push(format!("--js-flags=--max-old-space-size={js_heap_mib}"));
    if !sandbox {
        f.push("--no-sandbox".into());
    }
    f
}

fn read_cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .skip(1)
                .filter(|a| a.starts_with(b"--"))
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn launch_error(exe: &std::path::Path, e: &cdp::CallError, log: &str, sandbox: bool) -> Error {
    let last = log
        .lines()
        .rev()
        .find(|l| {
            let l = l.trim();
            !l.is_empty() && !l.contains("dbus") && !l.contains("unexpected operator")
        })
        .map(|l| format!(" (its last words: {})", clip(l.trim(), 300)))
        .unwrap_or_default();
    let hint = if sandbox && (log.contains("sandbox") || log.contains("namespace")) {
        "Chromium's sandbox could not start: allow unprivileged user namespaces, or configure the engine with the sandbox off"
    } else {
        INSTALL_HINT
    };
    Error::fetch(format!(
        "Chromium ({}) did not start: {e}{last}",
        exe.display()
    ))
    .hint(hint)
}
