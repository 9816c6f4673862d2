//! Capturing: fetch a URL and stage its document while recording the HTTP facts.
//!
//! "The document" is the response body with transfer-encoding and content-encoding removed:
//! the bytes a browser or `curl --compressed` would save. When the server applied a
//! content-encoding, the body as it came off the wire is hashed too (WARC's payload digest).
//! Both digests, the size limit and the zstd compression are computed while the bytes stream
//! in, so memory stays bounded whatever the document's size.
//!
//! Capture policy, enforced here for every hop: no URL with credentials is fetched or recorded;
//! only public addresses are connected to unless `allow_private` (netpolicy.rs), checked on
//! the resolved address the connection actually uses; the environment's proxy settings are
//! ignored and a proxy is used only when given, and then recorded; named headers are redacted
//! before anything is signed.

pub mod browse;
pub mod browser;
pub mod policy;
pub mod tls;

// Labels and fingerprints are about the text of documents; they live in text/.
pub use crate::text::{html_title, text_fingerprint, TEXT_LIMIT};

use crate::archive::dir::Dir;
use crate::archive::{Archive, Committed, Draft, Scratch};
use crate::error::{Error, IoContext, Result};
use crate::manifest::{self, DocumentFacts, Header, Hop, HttpExchange, Labels, Method, Payload};
use crate::netpolicy;
use crate::store::{DigestWriter, DocumentWriter, SizeLimitExceeded, Staged};
use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use sha2::Digest;
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub const DEFAULT_MAX_SIZE: u64 = 256 * 1024 * 1024;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const MAX_REDIRECTS: usize = 10;
pub const DEFAULT_USER_AGENT: &str =
    concat!("exhibit/", env!("CARGO_PKG_VERSION"), " (citation archive)");
const ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

#[derive(Debug, Clone)]
pub struct CaptureOptions {
    pub max_size: u64,
    /// Total deadline for one URL: connecting, every redirect hop and the whole body.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub allow_status: bool,
    pub user_agent: String,
    pub max_redirects: usize,
    /// Connect to loopback, private and other non-public addresses too (netpolicy.rs).
    pub allow_private: bool,
    /// Send every request through this proxy (from [`parse_proxy`]). `None`: connect directly;
    /// the proxy environment variables (http_proxy, ALL_PROXY, ...) are never used.
    pub proxy: Option<url::Url>,
    /// Header names whose values are replaced in every hop before signing, from
    /// [`parse_redact_headers`]: lower-cased, sorted, without duplicates.
    pub redact_headers: Vec<String>,
    /// Certification authorities trusted besides the public WebPKI roots (`--ca-cert`), DER.
    pub ca_certs: Vec<Vec<u8>>,
    /// The TLS chains the client built from these options has verified (capture/tls.rs).
    pub tls: Arc<tls::Recorder>,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            max_size: DEFAULT_MAX_SIZE,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
            allow_status: false,
            user_agent: DEFAULT_USER_AGENT.into(),
            max_redirects: MAX_REDIRECTS,
            allow_private: false,
            proxy: None,
            redact_headers: Vec::new(),
            ca_certs: Vec::new(),
            tls: Arc::default(),
        }
    }
}

/// Every HTTP client of a capture is set up the same way, whichever of reqwest's two builders
/// (async, blocking: two types with the same methods) makes it.
macro_rules! configured_client {
    ($builder:expr, $opts:expr) => {{
        let opts: &CaptureOptions = $opts;
        let builder = $builder
            // exhibit's own rustls configuration, so that each server's certificate chain is
            // recorded as it is verified; tls_info gives each response's leaf, which names it.
            .use_preconfigured_tls(tls::client_config(&opts.ca_certs, opts.tls.clone())?)
            .tls_info(true)
            // Redirects are followed by hand so that every hop's request and response are
            // recorded.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.timeout)
            // Every name is resolved by the policy resolver, and the connection goes to exactly
            // the addresses it checked: a second DNS answer (rebinding) never reaches the
            // connector.
            .dns_resolver(Arc::new(PolicyResolver {
                allow_private: opts.allow_private,
                proxy_host: opts
                    .proxy
                    .as_ref()
                    .and_then(|p| p.host_str().map(str::to_string)),
            }));
        let builder = match &opts.proxy {
            Some(p) => builder.proxy(reqwest::Proxy::all(p.as_str()).map_err(|e| {
                Error::usage(format!("cannot use proxy {p}: {e}"))
                    .hint("give the proxy as http://HOST:PORT")
            })?),
            // The HTTP library would otherwise read http_proxy, https_proxy and ALL_PROXY from
            // the environment and send every capture, unrecorded, to whatever they name.
            None => builder.no_proxy(),
        };
        builder
            .build()
            .map_err(|e| Error::fetch(format!("cannot set up the HTTP client: {e}")))
    }};
}

/// The blocking clients the browser's network (browse.rs) fetches with.
#[derive(Clone)]
pub struct Clients {
    /// Keeps connections alive between requests.
    pub pooled: Client,
    /// Opens a new connection for every request: for sending again a request whose pooled
    /// connection the server had closed ([`closed_before_answer`]).
    pub fresh: Client,
    /// The connections `pooled` has opened.
    pub(crate) connects: Connects,
}

pub fn client(opts: &CaptureOptions) -> Result<Clients> {
    parse_user_agent(&opts.user_agent)?;
    let connects = Connects::default();
    Ok(Clients {
        pooled: configured_client!(Client::builder().connector_layer(connects.clone()), opts)?,
        fresh: configured_client!(Client::builder().pool_max_idle_per_host(0), opts)?,
        connects,
    })
}

/// Counts the connections a client starts. reqwest does not say whether a failed request went
/// out on a kept-alive connection; when none was started while it ran, it did, and only then is
/// a reset the server's stale keep-alive rather than an answer to this request.
#[derive(Clone, Default)]
pub(crate) struct Connects(Arc<std::sync::atomic::AtomicU64>);

impl Connects {
    pub(crate) fn started(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl<S> tower::Layer<S> for Connects {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            count: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Counted<S> {
    inner: S,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl<S: tower::Service<R>, R> tower::Service<R> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: R) -> S::Future {
        self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.call(req)
    }
}

/// The HTTP clients of plain captures: reqwest's async client, each driven by a runtime of its
/// own on the thread that uses it, one per thread fetching at a time. reqwest's blocking client
/// runs every connection on a thread of its own and hands each request, and each chunk of each
/// body, across to the caller; here a body is read on the thread that hashes, compresses and
/// stages it (a third fewer context switches and less system time: benches/BENCHMARKS.md).
pub struct Fetcher {
    opts: CaptureOptions,
    idle: Mutex<Vec<Http>>,
}

/// One async client and the single-threaded runtime that drives it (and its connections:
/// they make progress only while a fetch runs, which is when they are needed).
pub(crate) struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    /// Without a pool: a request sent again after its pooled connection closed goes out on a
    /// new connection.
    fresh: reqwest::Client,
    /// The connections `client` has opened.
    connects: Connects,
}

impl Fetcher {
    /// Checks the options (a proxy, certificates) at once: one client is made here.
    pub fn new(opts: &CaptureOptions) -> Result<Fetcher> {
        parse_user_agent(&opts.user_agent)?;
        let fetcher = Fetcher {
            opts: opts.clone(),
            idle: Mutex::new(Vec::new()),
        };
        let first = fetcher.make()?;
        fetcher.idle.lock().expect("not poisoned").push(first);
        Ok(fetcher)
    }

    fn make(&self) -> Result<Http> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::fetch(format!("cannot set up the HTTP client: {e}")))?;
        // The client's timers and connector belong to the runtime they are made in.
        let connects = Connects::default();
        let (client, fresh) = {
            let _in = rt.enter();
            (
                configured_client!(
                    reqwest::Client::builder().connector_layer(connects.clone()),
                    &self.opts
                )?,
                configured_client!(
                    reqwest::Client::builder().pool_max_idle_per_host(0),
                    &self.opts
                )?,
            )
        };
        Ok(Http {
            rt,
            client,
            fresh,
            connects,
        })
    }

    /// Run `f` with a client no other thread is using.
    fn with<T>(&self, f: impl FnOnce(&Http) -> Result<T>) -> Result<T> {
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let http = match taken {
            Some(h) => h,
            None => self.make()?,
        };
        let result = f(&http);
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(http);
        result
    }

    /// Fetch `input` and stage its document in `scratch`. Nothing is added to the archive
    /// here.
    pub fn fetch(&self, input: &str, scratch: &Arc<Dir>, labels: Labels) -> Result<Draft> {
        self.with(|http| fetch(http, input, &self.opts, scratch, labels))
    }
}

/// A response body as `Read`, each chunk awaited on the client's runtime by the reading thread.
struct BodyReader<'a> {
    rt: &'a tokio::runtime::Runtime,
    response: reqwest::Response,
    chunk: bytes::Bytes,
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rt.block_on(async { self.response.chunk().await }) {
                Ok(Some(chunk)) => self.chunk = chunk,
                Ok(None) => return Ok(0),
                Err(e) if e.is_timeout() => return Err(io::Error::new(io::ErrorKind::TimedOut, e)),
                Err(e) => return Err(io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        bytes::Buf::advance(&mut self.chunk, n);
        Ok(n)
    }
}

/// Check a URL before any network traffic: only absolute http(s) URLs without credentials are
/// captured (or named by an import).
pub fn parse_url(input: &str) -> Result<url::Url> {
    let url = url::Url::parse(input).map_err(|e| {
        Error::usage(format!(
            "invalid URL {}: {e}",
            crate::terminal::shown(&mask_userinfo(input))
        ))
        .hint("give an absolute URL such as https://example.org/page")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::usage(format!(
            "unsupported scheme {} in {}: exhibit captures http and https URLs",
            crate::terminal::shown(url.scheme()),
            crate::terminal::shown(&mask_userinfo(without_userinfo(&url).as_str()))
        ))
        .hint("for a file you already have, use `exhibit import FILE --url URL`"));
    }
    if has_userinfo(&url) {
        return Err(credentials_error(&url));
    }
    Ok(url)
}

/// The longest URL exhibit can fetch, in characters as sent (the serialized URL, always ASCII):
/// the HTTP library's limit for a request target (`http::Uri`, `u16::MAX - 1`).
pub const MAX_URL_LEN: usize = 65_534;

/// [`parse_url`] for a URL to fetch (capture, check): one too long to send is bad input too
/// (exit 2), refused before anything is fetched or created.
pub fn parse_fetch_url(input: &str) -> Result<url::Url> {
    let url = parse_url(input)?;
    let len = url.as_str().len();
    if len > MAX_URL_LEN {
        return Err(Error::usage(format!(
            "URL too long to fetch: {} is {len} characters as sent, over the limit of {MAX_URL_LEN}",
            crate::terminal::shown(url.as_str())
        ))
        .hint("capture a shorter URL for the same document"));
    }
    Ok(url)
}

fn has_userinfo(url: &url::Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// The URL with any user name and password removed: the only form in which a URL that had
/// them is ever shown.
pub fn without_userinfo(url: &url::Url) -> url::Url {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u
}

/// URL-like text with whatever could be a user name and password replaced by `***`, for
/// echoing input that did not parse. Errs toward masking: everything between the scheme's
/// slashes (or the start) and the last `@` goes, so no reading of the text can leave part of a
/// password behind.
pub fn mask_userinfo(text: &str) -> String {
    let (Some(first_at), Some(last_at)) = (text.find('@'), text.rfind('@')) else {
        return text.to_string();
    };
    // Keep a leading `scheme:` and the slashes after it; mask everything else up to the last `@`.
    let start = match text.find(':') {
        Some(i)
            if i > 0
                && i < first_at
                && text[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
        {
            let rest = &text[i + 1..];
            i + 1 + rest.len() - rest.trim_start_matches(['/', '\\']).len()
        }
        _ => 0,
    };
    if start > last_at {
        return text.to_string();
    }
    format!("{}***{}", &text[..start], &text[last_at..])
}

fn credentials_error(url: &url::Url) -> Error {
    Error::usage(format!(
        "the URL {} has a user name or password in it; exhibit never sends credentials nor records them in a signed record",
        without_userinfo(url)
    ))
    .hint("remove the user:password@ part; for a page behind a login, save it from a browser and archive the file with `exhibit import FILE --url URL`")
}

/// Check `--user-agent`: it is sent as a header value, so a control character (a CR LF that
/// would start another header, a NUL) would make every request of the run fail instead of the
/// one command line.
pub fn parse_user_agent(input: &str) -> Result<String> {
    if reqwest::header::HeaderValue::from_str(input).is_err() {
        return Err(Error::usage(format!(
            "--user-agent {} is not a valid HTTP header value: it holds a control character such as a line break",
            crate::terminal::shown(input)
        ))
        .hint("give the user agent on one line, without control characters"));
    }
    Ok(input.to_string())
}

/// Refuse a URL with a user name or password wherever a user gives one as a target (read
/// commands, the viewer): as capture does, it is bad input, and the message shows it without
/// them.
pub fn refuse_userinfo(input: &str) -> Result<()> {
    match url::Url::parse(input.trim()) {
        Ok(u) if has_userinfo(&u) => Err(credentials_error(&u)),
        _ => Ok(()),
    }
}

/// A target a user typed, as it may be shown: a URL without its user name and password, other
/// text with whatever could be one masked ([`mask_userinfo`]).
pub fn shown_target(input: &str) -> String {
    match url::Url::parse(input.trim()) {
        Ok(u) if has_userinfo(&u) => without_userinfo(&u).to_string(),
        _ => mask_userinfo(input),
    }
}

/// Check `--proxy`: an http or https URL without credentials (they would end up in shell
/// history and, worse, could be recorded); exhibit records the proxy in every manifest.
pub fn parse_proxy(input: &str) -> Result<url::Url> {
    let bad = |why: String| {
        Error::usage(format!("--proxy {:?}: {why}", mask_userinfo(input)))
            .hint("give the proxy as http://HOST:PORT, one that needs no credentials in its URL")
    };
    let url = url::Url::parse(input).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(bad("exhibit uses http and https proxies only".into()));
    }
    if has_userinfo(&url) {
        return Err(bad(
            "a user name or password in the proxy URL is refused; exhibit records the proxy in every manifest"
                .into(),
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a proxy URL has no path, query or fragment".into()));
    }
    Ok(url)
}

/// Check and normalize `--redact-header` names: header names, lower-cased, sorted, without
/// duplicates; never one whose value the manifest also records elsewhere.
pub fn parse_redact_headers(names: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let lower = n.trim().to_ascii_lowercase();
        if !manifest::is_header_name(&lower) {
            return Err(
                Error::usage(format!("--redact-header {n:?} is not a header name"))
                    .hint("give a header name such as set-cookie, without a colon or value"),
            );
        }
        if manifest::UNREDACTABLE.contains(&lower.as_str()) {
            return Err(Error::usage(format!(
                "--redact-header {lower}: its value is recorded elsewhere in the manifest too (the URL, the redirect chain or the document's content type), so it cannot be redacted"
            ))
            .hint("redact headers that carry secrets or personal data, such as set-cookie"));
        }
        out.push(lower);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Replace the values of the named headers, everywhere in the exchange.
fn redact(http: &mut HttpExchange, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let heads = http
        .redirects
        .iter_mut()
        .flat_map(|hop| [&mut hop.request.headers, &mut hop.response.headers])
        .chain([&mut http.request.headers, &mut http.response.headers]);
    for headers in heads {
        for h in headers.iter_mut().filter(|h| names.contains(&h.name)) {
            *h = Header::new(&h.name, manifest::REDACTED.as_bytes());
        }
    }
    http.redacted_headers = names.to_vec();
}

/// The address-policy check of one hop's host before any connection: IP literals here (the
/// HTTP library does not resolve them), names in [`PolicyResolver`].
pub(crate) fn check_hop(
    url: &url::Url,
    from: Option<&url::Url>,
    opts: &CaptureOptions,
) -> Result<()> {
    let Some(host) = url.host() else {
        return Ok(());
    };
    netpolicy::check_host(&host, opts.allow_private, opts.proxy.is_some())
        .map_err(|r| refused_error(&r, url, from))
}

fn refused_error(r: &netpolicy::Refused, url: &url::Url, from: Option<&url::Url>) -> Error {
    let what = match from {
        Some(prev) => {
            format!("refusing the redirect from {prev} to {url}: {r}; nothing was stored")
        }
        None => format!("refusing to fetch {url}: {r}; nothing was stored"),
    };
    Error::fetch(what).hint(
        "exhibit fetches only public addresses; pass --allow-private (or set EXHIBIT_ALLOW_PRIVATE=1) to capture from this machine or a private network",
    )
}

/// Resolves names with the system resolver, on a thread of its own, and hands the HTTP library
/// only the addresses the policy allows. The proxy's own name is the user's explicit choice and
/// is not filtered (through a proxy, it is the only name this resolver sees).
struct PolicyResolver {
    allow_private: bool,
    proxy_host: Option<String>,
}

/// A failed lookup, named so that [`request_error`] can tell it from a refused connection.
#[derive(Debug)]
struct LookupFailed {
    host: String,
    cause: String,
}

impl std::fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot resolve host {}: {}", self.host, self.cause)
    }
}

impl std::error::Error for LookupFailed {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let allow = self.allow_private || self.proxy_host.as_deref() == Some(host.as_str());
        Box::pin(Lookup::spawn(move || {
            let addrs: Vec<SocketAddr> = (host.as_str(), 0)
                .to_socket_addrs()
                .map_err(|e| LookupFailed {
                    host: host.clone(),
                    cause: e.to_string(),
                })?
                .collect();
            if addrs.is_empty() {
                return Err(LookupFailed {
                    host,
                    cause: "no addresses".into(),
                }
                .into());
            }
            let kept = netpolicy::filter_resolved(&host, &addrs, allow)?;
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        }))
    }
}

/// A blocking lookup on its own thread, as a future. getaddrinfo blocks; run inline, it would
/// stall every other fetch sharing the HTTP library's runtime thread.
struct Lookup {
    state: Arc<Mutex<LookupState>>,
}

/// The lookup's result once the thread has it, and the waker of the task waiting for it.
type LookupState = (Option<Result<reqwest::dns::Addrs, BoxError>>, Option<Waker>);

impl Lookup {
    fn spawn(
        work: impl FnOnce() -> Result<reqwest::dns::Addrs, BoxError> + Send + 'static,
    ) -> Lookup {
        let state = Arc::new(Mutex::new((None, None::<Waker>)));
        let shared = state.clone();
        let spawned = std::thread::Builder::new()
            .name("exhibit-dns".into())
            .spawn(move || {
                let result = work();
                let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                s.0 = Some(result);
                if let Some(w) = s.1.take() {
                    w.wake();
                }
            });
        if let Err(e) = spawned {
            state.lock().unwrap_or_else(|p| p.into_inner()).0 = Some(Err(Box::new(e)));
        }
        Lookup { state }
    }
}

impl Future for Lookup {
    type Output = Result<reqwest::dns::Addrs, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.0.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

fn fetch(
    http: &Http,
    input: &str,
    opts: &CaptureOptions,
    scratch: &Arc<Dir>,
    labels: Labels,
) -> Result<Draft> {
    let requested = parse_fetch_url(input)?;
    let deadline = Instant::now() + opts.timeout;
    let mut url = requested.clone();
    let mut redirects = Vec::new();
    let mut visited = vec![url.to_string()];
    let mut from: Option<url::Url> = None;
    let mut connections: Vec<manifest::TlsConnection> = Vec::new();
    let mut certs: std::collections::HashMap<String, Staged> = std::collections::HashMap::new();
    loop {
        check_hop(&url, from.as_ref(), opts)?;
        let request_headers = request_headers(&url, &opts.user_agent);
        let remaining = remaining_time(deadline, opts, &url)?;
        let send = |client: &reqwest::Client, remaining: Duration| {
            let mut builder = client.get(url.clone()).timeout(remaining);
            for h in &request_headers[1..] {
                builder = builder.header(h.name.as_str(), h.value.as_deref().unwrap_or(""));
            }
            http.rt.block_on(async { builder.send().await })
        };
        // A kept-alive connection the server closed just as the request went out: no complete
        // response head came, and the GET is sent again once, as browsers do, on a new
        // connection.
        let started = http.connects.started();
        let response = match send(&http.client, remaining) {
            Err(e) if closed_before_answer(&e, http.connects.started() == started) => {
                send(&http.fresh, remaining_time(deadline, opts, &url)?)
            }
            other => other,
        }
        .map_err(|e| request_error(&e, &url, from.as_ref(), opts))?;
        if url.scheme() == "https" {
            connections.push(tls_connection(
                response.extensions().get::<reqwest::tls::TlsInfo>(),
                &url,
                opts,
                scratch,
                &mut certs,
            )?);
        }
        let captured_at = manifest::now();
        let head = response_head(&response);
        let request = manifest::Request {
            method: "GET".into(),
            url: url.to_string(),
            headers: request_headers,
        };
        let status = response.status();
        if status.is_redirection() {
            if let Some(location) = response.headers().get(LOCATION) {
                let raw = location.as_bytes();
                // Recorded as text (FORMAT.md 5.5: non-UTF-8 bytes as U+FFFD, the exact bytes
                // in the header list), followed as browsers follow it.
                let location = String::from_utf8_lossy(raw).into_owned();
                let next = url.join(&location_to_parse(raw)).map_err(|e| {
                    Error::fetch(format!(
                        "{url} redirects to an invalid Location {:?}: {e}",
                        mask_userinfo(&location)
                    ))
                    .hint("the server is misconfigured; capture the target URL directly")
                })?;
                // Checked before anything else about the target: no message, and no record,
                // may carry the credentials.
                if has_userinfo(&next) {
                    return Err(Error::fetch(format!(
                        "{url} redirects to {}, a URL with a user name or password; exhibit never sends or records credentials, nothing was stored",
                        without_userinfo(&next)
                    ))
                    .hint("capture the target URL yourself, without credentials, if it is public"));
                }
                redirects.push(Hop {
                    request,
                    response: head,
                    location,
                });
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(Error::fetch(format!(
                        "{url} redirects to unsupported scheme {:?} ({next})",
                        next.scheme()
                    ))
                    .hint("capture the target with a tool for that scheme"));
                }
                if next.as_str().len() > MAX_URL_LEN {
                    return Err(Error::fetch(format!(
                        "{url} redirects to a URL of {} characters, over the limit of {MAX_URL_LEN} exhibit can fetch; nothing was stored",
                        next.as_str().len()
                    ))
                    .hint("the server is misconfigured; capture the target URL directly if it has a shorter form"));
                }
                if visited.contains(&next.to_string()) {
                    visited.push(next.to_string());
                    return Err(
                        Error::fetch(format!("redirect loop: {}", visited.join(" -> ")))
                            .hint("the server is misconfigured; nothing was stored"),
                    );
                }
                if redirects.len() >= opts.max_redirects {
                    return Err(Error::fetch(format!(
                        "more than {} redirects starting at {requested}",
                        opts.max_redirects
                    ))
                    .hint("capture a URL closer to the final page; nothing was stored"));
                }
                visited.push(next.to_string());
                from = Some(std::mem::replace(&mut url, next));
                continue;
            }
        }
        // exhibit never asks for a range, so a 206 is a server's mistake, and its body only a
        // piece of the document: citing it as the document would be false, whatever
        // --allow-status says.
        if status == reqwest::StatusCode::PARTIAL_CONTENT {
            return Err(partial_content_error(&url));
        }
        if !status.is_success() && !opts.allow_status {
            return Err(Error::fetch(format!(
                "{url} answered {} {}; nothing was stored",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ))
            .hint("check the URL, or pass --allow-status to archive the error page as it is"));
        }
        let remote_addr = response.remote_addr().map(|a| a.to_string());
        let content_type = header_text(response.headers(), CONTENT_TYPE);
        let encoding = header_text(response.headers(), CONTENT_ENCODING)
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty() && e != "identity");
        let claimed = header_text(response.headers(), CONTENT_LENGTH)
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut writer = DocumentWriter::create(scratch, opts.max_size)?;
        writer.keep_whole();
        if let Some(size) = claimed {
            writer.expect(size);
        }
        let body = BodyReader {
            rt: &http.rt,
            response,
            chunk: bytes::Bytes::new(),
        };
        let payload = read_body(
            body,
            encoding.as_deref(),
            &mut writer,
            deadline,
            opts,
            &url,
            claimed,
        )?;
        let mut staged = writer.finish()?;
        let title = html_title(content_type.as_deref(), &staged.head);
        let text_fingerprint = text_fingerprint(content_type.as_deref(), &mut staged);
        return Ok(Draft {
            method: Method::Capture,
            requested_url: requested.to_string(),
            final_url: url.to_string(),
            captured_at,
            document: DocumentFacts {
                sha256: staged.sha256.to_string(),
                size: staged.size,
                content_type,
                title,
                text_fingerprint,
            },
            http: Some({
                let mut http = HttpExchange {
                    redirects,
                    request,
                    response: head,
                    payload: encoding.as_ref().map(|_| payload),
                    content_encoding: encoding,
                    remote_addr,
                    proxy: opts.proxy.as_ref().map(|p| p.to_string()),
                    redacted_headers: Vec::new(),
                    tls: connections,
                };
                redact(&mut http, &opts.redact_headers);
                http
            }),
            warc: None,
            browser: None,
            parts: certs.into_values().collect(),
            labels,
            change: None,
            staged: Some(staged),
        });
    }
}

/// The refusal of a `206 Partial Content` answer to a request that asked for no range.
pub(crate) fn partial_content_error(url: &impl std::fmt::Display) -> Error {
    Error::fetch(format!(
        "{url} answered 206 Partial Content: the server sent part of the document, though exhibit asked for all of it; nothing was stored"
    ))
    .hint("the server or a cache in front of it is misbehaving; try again later, or capture the URL from another server")
}

/// Stage bytes already in memory (a browser view, a certificate) as a document of the record
/// being built; `what` names them in an error.
pub(crate) fn stage_bytes(scratch: &Arc<Dir>, bytes: &[u8], what: &str) -> Result<Staged> {
    let mut w = DocumentWriter::create(scratch, u64::MAX)?;
    w.write_all(bytes)
        .map_err(|e| Error::archive(format!("cannot stage {what}: {e}")))?;
    w.finish()
}

/// The TLS connection a response came over: its version and the chain the server sent, each
/// certificate staged as a document (once per capture) to be stored with the record.
pub(crate) fn tls_connection(
    info: Option<&reqwest::tls::TlsInfo>,
    url: &url::Url,
    opts: &CaptureOptions,
    scratch: &Arc<Dir>,
    certs: &mut std::collections::HashMap<String, Staged>,
) -> Result<manifest::TlsConnection> {
    let leaf = info.and_then(|i| i.peer_certificate()).ok_or_else(|| {
        Error::fetch(format!(
            "{url}: the TLS connection's certificate was not available; nothing was stored"
        ))
        .hint("this is a bug in exhibit; please report it")
    })?;
    let seen = opts.tls.lookup(leaf).map_err(|why| {
        Error::fetch(format!(
            "{url}: cannot tell which certificate chain this response came over ({why}); nothing was stored"
        ))
        .hint("capture this URL again on its own (without --jobs, and apart from other URLs of the same servers)")
    })?;
    let mut chain = Vec::with_capacity(seen.chain.len());
    for der in &seen.chain {
        let staged = stage_bytes(scratch, der, "a certificate")?;
        chain.push(manifest::Payload {
            sha256: staged.sha256.to_string(),
            size: staged.size,
        });
        certs.entry(staged.sha256.to_string()).or_insert(staged);
    }
    Ok(manifest::TlsConnection {
        url: url.to_string(),
        version: seen.version.to_string(),
        chain,
    })
}

/// A `Location` header value as the URL parser gets it: unchanged when it is UTF-8 text;
/// otherwise every byte from 0x80 up percent-encoded (`%E9`), as browsers do, instead of being
/// read as U+FFFD (which the parser would send as `%EF%BF%BD`, a URL the server never named).
/// Other bytes are left to the URL parser, which handles controls and spaces as WHATWG says.
fn location_to_parse(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(raw) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(raw.len() * 3);
    for &b in raw {
        if b.is_ascii() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    std::borrow::Cow::Owned(out)
}

fn remaining_time(deadline: Instant, opts: &CaptureOptions, url: &url::Url) -> Result<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| timeout_error(opts, url))
}

fn timeout_error(opts: &CaptureOptions, url: &url::Url) -> Error {
    Error::fetch(format!(
        "{url} did not finish within {} s; nothing was stored",
        opts.timeout.as_secs_f64()
    ))
    .hint("raise --timeout if the server is slow but working")
}

/// The request headers exhibit sends, in order. Host is listed because the server sees it,
/// though the HTTP library adds it on the wire.
fn request_headers(url: &url::Url, user_agent: &str) -> Vec<Header> {
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or("")),
        None => url.host_str().unwrap_or("").to_string(),
    };
    vec![
        Header::new("host", host.as_bytes()),
        Header::new("user-agent", user_agent.as_bytes()),
        Header::new("accept", ACCEPT.as_bytes()),
        Header::new("accept-encoding", ACCEPT_ENCODING.as_bytes()),
    ]
}

fn response_head(r: &reqwest::Response) -> manifest::Response {
    manifest::Response {
        version: format!("{:?}", r.version()),
        status: r.status().as_u16(),
        reason: r.status().canonical_reason().unwrap_or("").into(),
        headers: r
            .headers()
            .iter()
            .map(|(n, v)| Header::new(n.as_str(), v.as_bytes()))
            .collect(),
    }
}

/// Whether a request failed because its connection closed before a complete response head
/// arrived: what writing into a kept-alive connection the server has just closed looks like.
/// hyper calls an orderly close "connection closed before message completed"; a server that
/// closed with the request unread in its socket answers it with a reset instead (or the write
/// meets a broken pipe), which on a `reused` connection is the same stale keep-alive. A reset on
/// a connection opened for this request is the server's answer to it, and stays a failure.
/// Nothing of the response was used, so a GET or HEAD can be sent again.
pub(crate) fn closed_before_answer(e: &reqwest::Error, reused: bool) -> bool {
    if find_in_chain::<hyper::Error>(e).is_some_and(hyper::Error::is_incomplete_message) {
        return true;
    }
    reused
        && !e.is_connect()
        && !e.is_timeout()
        && find_in_chain::<io::Error>(e).is_some_and(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            )
        })
}

fn header_text(h: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Deepest cause of an error chain: reqwest's top-level text ("error sending request") says
/// little; the root ("Connection refused") says what happened.
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The first error of type `T` in an error chain.
fn find_in_chain<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(t) = c.downcast_ref::<T>() {
            return Some(t);
        }
        cur = c.source();
    }
    None
}

/// The certificate error a request's TLS handshake failed with, if that is why it failed.
/// rustls's error reaches the chain inside an `io::Error` (inside another: tokio-rustls wraps
/// it, hyper-rustls wraps that), and `io::Error::source()` skips what it wraps.
fn certificate_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        let mut inner = c;
        while let Some(wrapped) = inner
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
        {
            inner = wrapped;
        }
        if let Some(t @ rustls::Error::InvalidCertificate(_)) =
            inner.downcast_ref::<rustls::Error>()
        {
            return Some(t);
        }
        cur = c.source();
    }
    None
}

/// What a failed request met, told from the error's types, never from its wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestFailure {
    /// The address policy refused the address (netpolicy.rs).
    Refused,
    /// The name did not resolve.
    NotResolved,
    Timeout,
    /// No connection could be made.
    Connect,
    /// The response head was over hyper's limits (size, number of headers).
    HeadTooLarge,
    Other,
}

pub(crate) fn request_failure(e: &reqwest::Error) -> RequestFailure {
    if find_in_chain::<netpolicy::Refused>(e).is_some() {
        RequestFailure::Refused
    } else if find_in_chain::<LookupFailed>(e).is_some() {
        RequestFailure::NotResolved
    } else if e.is_timeout() {
        RequestFailure::Timeout
    } else if e.is_connect() {
        RequestFailure::Connect
    } else if find_in_chain::<hyper::Error>(e).is_some_and(hyper::Error::is_parse_too_large) {
        RequestFailure::HeadTooLarge
    } else {
        RequestFailure::Other
    }
}

pub(crate) fn request_error(
    e: &reqwest::Error,
    url: &url::Url,
    from: Option<&url::Url>,
    opts: &CaptureOptions,
) -> Error {
    if let Some(r) = find_in_chain::<netpolicy::Refused>(e) {
        return refused_error(r, url, from);
    }
    if let Some(l) = find_in_chain::<LookupFailed>(e) {
        return Error::fetch(format!("{l}; nothing was stored"))
            .hint("check the host name and this machine's DNS");
    }
    let target = format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    );
    if e.is_timeout() {
        // The connect timeout bounds the whole connection set-up, a TLS handshake (and a
        // proxy's tunnel) included; the total deadline, when shorter, ends the request first
        // and is not a connect error.
        if e.is_connect() {
            let what = if url.scheme() == "https" {
                "the TCP connection and TLS handshake"
            } else {
                "the TCP connection"
            };
            return Error::fetch(format!(
                "cannot connect to {target} for {url}: {what} did not finish within the --connect-timeout of {} s; nothing was stored",
                opts.connect_timeout.as_secs_f64()
            ))
            .hint("raise --connect-timeout if the server is slow to accept connections");
        }
        return timeout_error(opts, url);
    }
    let cause = root_cause(e);
    if let Some(why) = certificate_error(e) {
        return Error::fetch(format!(
            "cannot connect to {target} for {url}: the server's certificate did not verify: {why}; nothing was stored"
        ))
        .hint(
            "certificates are always verified; if the server's certificate comes from a private certification authority you trust, give that authority's certificate with --ca-cert FILE",
        );
    }
    if e.is_connect() {
        return Error::fetch(format!("cannot connect to {target} for {url}: {cause}"))
            .hint("check the URL and that the server is running and reachable");
    }
    if request_failure(e) == RequestFailure::HeadTooLarge {
        return Error::fetch(format!(
            "{url}: the server sent a response head exhibit does not accept (over 100 headers, about 400 KiB, or a Content-Length too large to be real); nothing was stored"
        ))
        .hint("the server is misbehaving; capture another URL for the same document");
    }
    Error::fetch(format!("request to {url} failed: {cause}"))
        .hint("check the URL and the server; nothing was stored")
}

enum Decoder<'a> {
    Identity(&'a mut DocumentWriter),
    Gzip(flate2::write::MultiGzDecoder<&'a mut DocumentWriter>),
    Deflate(flate2::write::ZlibDecoder<&'a mut DocumentWriter>),
    Brotli(Box<brotli::DecompressorWriter<&'a mut DocumentWriter>>),
    Zstd(ZstdSink<&'a mut DocumentWriter>),
}

/// The largest zstd window a body may ask for: 8 MiB, the limit RFC 9659 sets for HTTP (and
/// what browsers decode). Without it a server chooses the decoder's memory, up to 128 MiB per
/// fetch with zstd's default limit.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// A zstd body asked for a window over [`ZSTD_WINDOW_LOG_MAX`].
#[derive(Debug, thiserror::Error)]
#[error("its zstd frame asks for a window over 8 MiB, more than HTTP allows (RFC 9659)")]
struct ZstdWindowTooLarge;

/// A zstd decoder of untrusted input, with the window limited to [`ZSTD_WINDOW_LOG_MAX`].
fn zstd_body_decoder() -> io::Result<zstd::zstd_safe::DCtx<'static>> {
    let mut d = zstd::zstd_safe::DCtx::try_create()
        .ok_or_else(|| io::Error::other("cannot allocate a zstd decoder"))?;
    d.set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(
        ZSTD_WINDOW_LOG_MAX,
    ))
    .map_err(|code| io::Error::other(zstd::zstd_safe::get_error_name(code)))?;
    Ok(d)
}

/// A zstd error code as an `io::Error`, the window limit as its own type.
fn zstd_body_error(code: usize) -> io::Error {
    use zstd::zstd_safe::zstd_sys::ZSTD_ErrorCode;
    // zstd returns an error as the negated error enum.
    if code == (ZSTD_ErrorCode::ZSTD_error_frameParameter_windowTooLarge as usize).wrapping_neg() {
        io::Error::new(io::ErrorKind::InvalidData, ZstdWindowTooLarge)
    } else {
        io::Error::new(
            io::ErrorKind::InvalidData,
            zstd::zstd_safe::get_error_name(code).to_string(),
        )
    }
}

/// zstd decoding that knows whether the last frame ended: the stock write-side decoder cannot
/// tell a complete stream from one cut short, and a cut-short body must not become a shorter
/// document.
pub(crate) struct ZstdSink<W: Write> {
    decoder: zstd::zstd_safe::DCtx<'static>,
    out: W,
    buf: Vec<u8>,
    frame_complete: bool,
}

impl<W: Write> Write for ZstdSink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.feed(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> ZstdSink<W> {
    pub(crate) fn new(out: W) -> io::Result<Self> {
        Ok(ZstdSink {
            decoder: zstd_body_decoder()?,
            out,
            buf: vec![0u8; 128 * 1024],
            frame_complete: false,
        })
    }

    /// The end of the body: an error unless its last frame ended.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.feed(&[])?;
        if self.frame_complete {
            self.out.flush()
        } else {
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "compressed stream ended early",
            ))
        }
    }

    fn feed(&mut self, mut input: &[u8]) -> io::Result<()> {
        use zstd::zstd_safe::{InBuffer, OutBuffer};
        loop {
            let (remaining, read, written) = {
                let mut inb = InBuffer::around(input);
                let mut outb = OutBuffer::around(&mut self.buf[..]);
                let remaining = self
                    .decoder
                    .decompress_stream(&mut outb, &mut inb)
                    .map_err(zstd_body_error)?;
                (remaining, inb.pos(), outb.pos())
            };
            self.out.write_all(&self.buf[..written])?;
            input = &input[read..];
            // A call that consumed and produced nothing says nothing about the frame (after a
            // complete frame zstd hints at the next frame's header).
            if read > 0 || written > 0 {
                self.frame_complete = remaining == 0;
            }
            if input.is_empty() && written < self.buf.len() {
                return Ok(());
            }
        }
    }
}

impl<'a> Decoder<'a> {
    fn new(encoding: Option<&str>, w: &'a mut DocumentWriter, url: &url::Url) -> Result<Self> {
        Ok(match encoding {
            None => Decoder::Identity(w),
            Some("gzip" | "x-gzip") => Decoder::Gzip(flate2::write::MultiGzDecoder::new(w)),
            Some("deflate") => Decoder::Deflate(flate2::write::ZlibDecoder::new(w)),
            Some("br") => Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(w, 64 * 1024))),
            Some("zstd") => Decoder::Zstd(
                ZstdSink::new(w)
                    .map_err(|e| Error::fetch(format!("cannot start zstd decoding: {e}")))?,
            ),
            Some(other) => {
                return Err(Error::fetch(format!(
                    "{url} sent Content-Encoding {other:?}, which exhibit cannot decode; nothing was stored"
                ))
                .hint("supported encodings are gzip, deflate, br and zstd"))
            }
        })
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Decoder::Identity(w) => w.write_all(buf),
            Decoder::Gzip(w) => w.write_all(buf),
            Decoder::Deflate(w) => w.write_all(buf),
            Decoder::Brotli(w) => w.write_all(buf),
            Decoder::Zstd(w) => w.feed(buf),
        }
    }

    /// Flush the decoder and insist the compressed stream was complete: a truncated gzip or
    /// brotli stream is a truncated document, not a shorter one.
    fn finish(self) -> io::Result<()> {
        let incomplete = || {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "compressed stream ended early",
            )
        };
        match self {
            Decoder::Identity(w) => w.flush(),
            Decoder::Gzip(mut w) => {
                w.try_finish()?;
                w.flush()
            }
            Decoder::Deflate(mut w) => {
                w.try_finish()?;
                w.flush()
            }
            Decoder::Brotli(w) => match w.into_inner() {
                Ok(_) => Ok(()),
                Err(_) => Err(incomplete()),
            },
            Decoder::Zstd(w) => w.finish(),
        }
    }
}

/// A response body as a capture decodes it: `body` with Content-Encoding `encoding` read into a
/// document staged in `scratch`, under the size limit `max_size`. Returns the document's
/// SHA-256, its size, and the size of the body on the wire. For the `body_decode` fuzz target
/// (fuzz/src/lib.rs), which compares the document with the encoding's own decoder.
#[doc(hidden)]
pub fn decode_body_for_fuzzing(
    encoding: Option<&str>,
    body: &[u8],
    scratch: &Path,
    max_size: u64,
) -> Result<(crate::core::digest::Sha256, u64, u64)> {
    let dir = Arc::new(crate::archive::dir::Dir::open(scratch).ctx("open", scratch)?);
    let mut writer = DocumentWriter::create(&dir, max_size)?;
    let opts = CaptureOptions {
        max_size,
        ..CaptureOptions::default()
    };
    let url = url::Url::parse("http://fuzz.invalid/").expect("a valid URL");
    let deadline = Instant::now() + Duration::from_secs(3600);
    let wire = read_body(body, encoding, &mut writer, deadline, &opts, &url, None)?;
    let staged = writer.finish()?;
    Ok((staged.sha256, staged.size, wire.size))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn read_body(
    mut response: impl Read,
    encoding: Option<&str>,
    writer: &mut DocumentWriter,
    deadline: Instant,
    opts: &CaptureOptions,
    url: &url::Url,
    claimed: Option<u64>,
) -> Result<Payload> {
    thread_local! {
        // One per fetching thread: a fresh zeroed 64 KiB per document cost 1% of batch capture.
        static BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    }
    let mut buf = BUF.take();
    buf.resize(64 * 1024, 0);
    let mut wire = DigestWriter::new(io::sink());
    let outcome: std::result::Result<(), BodyError> = (|| {
        let mut decoder = Decoder::new(encoding, writer, url).map_err(BodyError::Other)?;
        loop {
            if Instant::now() >= deadline {
                return Err(BodyError::Timeout);
            }
            let n = match response.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BodyError::Read(e)),
            };
            // Without a content-encoding the wire bytes are the document, already hashed by the
            // document writer; only count them.
            if encoding.is_some() {
                wire.write_all(&buf[..n]).expect("sink never fails");
            } else {
                wire.count += n as u64;
            }
            if wire.count > opts.max_size {
                return Err(BodyError::TooLarge);
            }
            decoder.write_all(&buf[..n]).map_err(BodyError::Decode)?;
        }
        decoder.finish().map_err(BodyError::Decode)
    })();
    BUF.set(buf);
    match outcome {
        Ok(()) => Ok(Payload {
            sha256: hex::encode(wire.hasher.finalize()),
            size: wire.count,
        }),
        Err(_) if writer.limit_hit() => Err(too_large(opts, url)),
        Err(BodyError::TooLarge) => Err(too_large(opts, url)),
        Err(BodyError::Timeout) => Err(timeout_error(opts, url)),
        Err(BodyError::Other(e)) => Err(e),
        Err(BodyError::Read(e)) => {
            let cause = root_cause(&e);
            // The async reader says TimedOut; the blocking client wraps its reqwest error.
            let timed_out = e.kind() == io::ErrorKind::TimedOut
                || e.get_ref().is_some_and(|inner| {
                    find_in_chain::<reqwest::Error>(inner).is_some_and(reqwest::Error::is_timeout)
                });
            if timed_out {
                return Err(timeout_error(opts, url));
            }
            let got = wire.count;
            let what = match claimed {
                Some(len) if got < len => format!(
                    "{url}: connection closed after {got} of {len} bytes (Content-Length); nothing was stored"
                ),
                _ => format!("{url}: the body could not be read completely after {got} bytes ({cause}); nothing was stored"),
            };
            Err(Error::fetch(what).hint("the server cut the transfer short; try again later"))
        }
        Err(BodyError::Decode(e)) => {
            if e.get_ref().is_some_and(|i| i.is::<SizeLimitExceeded>()) {
                return Err(too_large(opts, url));
            }
            if e.get_ref().is_some_and(|i| i.is::<ZstdWindowTooLarge>()) {
                return Err(Error::fetch(format!("{url}: {e}; nothing was stored")).hint(
                    "the site's zstd encoder must keep its window within 8 MiB; a browser refuses such a body too",
                ));
            }
            Err(Error::fetch(format!(
                "{url}: the {} body is corrupt or incomplete ({e}); nothing was stored",
                encoding.unwrap_or("response")
            ))
            .hint("the server sent a damaged compressed body; try again later"))
        }
    }
}

enum BodyError {
    Read(io::Error),
    Decode(io::Error),
    TooLarge,
    Timeout,
    Other(Error),
}

fn too_large(opts: &CaptureOptions, url: &url::Url) -> Error {
    let mut e = Error::fetch(format!(
        "{url}: the document is larger than the limit of {} bytes; nothing was stored",
        opts.max_size
    ))
    .hint("raise --max-size if you really want to archive it");
    // Typed, so that the browser's network can report the kind of failure.
    e.source = Some(Box::new(SizeLimitExceeded {
        limit: opts.max_size,
    }));
    e
}

/// Archive a file one already holds. The manifest says it was imported, not fetched.
pub fn stage_file(
    scratch: &Arc<Dir>,
    file: &Path,
    url: &str,
    captured_at: Option<&str>,
    content_type: Option<String>,
    labels: Labels,
) -> Result<Draft> {
    let url = parse_url(url)?;
    let captured_at = match captured_at {
        Some(t) => {
            let ts: jiff::Timestamp = t.parse().map_err(|e| {
                Error::usage(format!(
                    "--captured-at {} is not an RFC 3339 time: {e}",
                    crate::terminal::shown(t)
                ))
                .hint("write it like 2026-05-21T05:07:28Z")
            })?;
            manifest::format_time(ts)
        }
        None => manifest::now(),
    };
    let mut input = std::fs::File::open(file).map_err(|e| {
        let mut err = Error::io("open", file, e);
        err.kind = crate::error::Kind::Usage;
        err
    })?;
    let mut writer = DocumentWriter::create(scratch, u64::MAX)?;
    writer.keep_whole();
    io::copy(&mut input, &mut writer).ctx("read", file)?;
    let mut staged = writer.finish()?;
    let title = html_title(content_type.as_deref(), &staged.head);
    let text_fingerprint = text_fingerprint(content_type.as_deref(), &mut staged);
    Ok(Draft {
        method: Method::Import,
        requested_url: url.to_string(),
        final_url: url.to_string(),
        captured_at,
        document: DocumentFacts {
            sha256: staged.sha256.to_string(),
            size: staged.size,
            content_type,
            title,
            text_fingerprint,
        },
        http: None,
        warc: None,
        browser: None,
        parts: Vec::new(),
        labels,
        change: None,
        staged: Some(staged),
    })
}

/// The outcome of one URL of a batch.
pub struct BatchItem<X = ()> {
    pub index: usize,
    pub url: String,
    pub result: Result<(Committed, X)>,
}

/// Capture many URLs with `jobs` parallel fetches. See [`pipeline`].
pub fn capture_many(
    archive: &Archive,
    key: &crate::keys::SecretKey,
    urls: &[String],
    labels: &Labels,
    opts: &CaptureOptions,
    jobs: usize,
    report: impl FnMut(BatchItem),
) -> Result<()> {
    let fetcher = Fetcher::new(opts)?;
    pipeline(
        archive,
        key,
        urls,
        jobs,
        |url, scratch| fetcher.fetch(url, scratch, labels.clone()).map(|d| (d, ())),
        report,
    )
}

/// Run `work` over `urls` on `jobs` threads and commit the drafts it makes in groups: one flush
/// and one checkpoint per group, so a batch pays for durability once per group, not per file.
/// `report` sees each URL's outcome as soon as it is durable; one failure does not stop the
/// others.
pub fn pipeline<X: Send>(
    archive: &Archive,
    key: &crate::keys::SecretKey,
    urls: &[String],
    jobs: usize,
    work: impl Fn(&str, &Arc<Dir>) -> Result<(Draft, X)> + Sync,
    mut report: impl FnMut(BatchItem<X>),
) -> Result<()> {
    let scratch: Scratch = archive.scratch()?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Room for many finished fetches: while a group commits (and waits on the disk), fetchers
    // keep going and the next group grows, instead of every group being a handful of records.
    let (tx, rx) = mpsc::sync_channel::<(usize, Result<(Draft, X)>)>(1024);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(urls.len().max(1)) {
            let tx = tx.clone();
            let (next, scratch, work) = (&next, &scratch, &work);
            s.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(url) = urls.get(i) else { break };
                if tx.send((i, work(url, scratch.dir()))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        while let Ok(first) = rx.recv() {
            let mut group = vec![first];
            while group.len() < 512 {
                match rx.try_recv() {
                    Ok(item) => group.push(item),
                    Err(_) => break,
                }
            }
            let mut drafts = Vec::new();
            let mut pending = Vec::new();
            for (i, r) in group {
                match r {
                    Ok((d, x)) => {
                        pending.push((i, x));
                        drafts.push(d);
                    }
                    Err(e) => report(BatchItem {
                        index: i,
                        url: urls[i].clone(),
                        result: Err(e),
                    }),
                }
            }
            match archive.commit(key, &scratch, drafts) {
                Ok(done) => {
                    for ((i, x), c) in pending.into_iter().zip(done) {
                        report(BatchItem {
                            index: i,
                            url: urls[i].clone(),
                            result: Ok((c, x)),
                        });
                    }
                }
                Err(e) => {
                    for (i, _) in pending {
                        report(BatchItem {
                            index: i,
                            url: urls[i].clone(),
                            result: Err(Error::new(e.kind, e.what.clone())
                                .hint(e.hint.clone().unwrap_or_default())),
                        });
                    }
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masking() {
        assert_eq!(mask_userinfo("http://u:pw@h:99999/"), "http://***@h:99999/");
        assert_eq!(mask_userinfo("http:\\\\u:pw@h/"), "http:\\\\***@h/");
        assert_eq!(mask_userinfo("u:pw@h"), "u:***@h");
        assert_eq!(mask_userinfo("http::pw@/@"), "http:***@");
        assert_eq!(mask_userinfo("ht\ttp://u:pw@h"), "***@h");
        assert_eq!(mask_userinfo("http://h/p"), "http://h/p");
        assert_eq!(mask_userinfo("http://h/a@b"), "http://***@b");
    }

    #[test]
    fn redact_header_names() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_redact_headers(&names(&["Set-Cookie", "x-b", "set-cookie"])).unwrap(),
            names(&["set-cookie", "x-b"])
        );
        for bad in ["", "set-cookie:", "a b", "Location", "host", "content-type"] {
            assert!(parse_redact_headers(&names(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn proxies() {
        assert!(parse_proxy("http://127.0.0.1:3128").is_ok());
        assert!(parse_proxy("https://proxy.example:443/").is_ok());
        for bad in [
            "http://u:p@proxy:3128",
            "http://u@proxy:3128",
            "socks5://proxy:1080",
            "proxy:3128",
            "http://proxy:3128/path",
        ] {
            let e = parse_proxy(bad).unwrap_err();
            assert!(!e.to_string().contains("u:p"), "{e}");
        }
    }

    proptest! {
        /// Whatever the URL looks like, no error about it shows its password.
        #[test]
        fn errors_never_show_a_password(
            scheme in "(http|https|ftp|HTTP|ht\ttp|mailto)",
            slashes in "(//|/|\\\\\\\\|/\\\\|)",
            user in "[a-z0-9%]{0,6}",
            pass in "[A-Z]{8}",
            host in "([a-z0-9.\\[\\]:%]{0,12})",
            tail in "(:[0-9]{0,6})?(/[a-z@/]{0,6})?",
        ) {
            let input = format!("{scheme}:{slashes}{user}:{pass}@{host}{tail}");
            if let Err(e) = parse_url(&input) {
                prop_assert!(!e.to_string().contains(&pass), "{input:?}: {e}");
            }
            if let Err(e) = parse_proxy(&input) {
                prop_assert!(!e.to_string().contains(&pass), "{input:?}: {e}");
            }
        }
    }
}
