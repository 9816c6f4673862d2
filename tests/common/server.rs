//! A tiny, real HTTP/1.1 server for integration tests.
//!
//! It listens on `127.0.0.1` with an OS-assigned port, runs on plain std
//! threads (one accept thread, one thread per connection) and answers from a
//! fixed route table. Several routes misbehave on purpose (truncated bodies,
//! hanging, slow drip, endless body, gzip bomb, ...) so a client can be tested
//! against hostile servers.
//!
//! Behaviour common to every route:
//! - Every response carries `Connection: close`; one request per connection.
//! - Routes match the exact request path. A route whose key includes a query
//!   (`"/a?x=1"`) matches that exact target first; otherwise the query is
//!   ignored (`/a?x=1` is served, and counted, as `/a`). Absolute-form targets
//!   (`GET http://host/a`) are reduced to their path.
//! - Unknown paths get `404 Not Found` with a small text body.
//! - `hits` and `last_request_headers` are updated as soon as the request head
//!   has been parsed, i.e. before the response is written (so a request that
//!   hangs or times out is still counted).
//! - A malformed request head gets `400`, one over 64 KiB gets `431`; neither
//!   is counted.
//! - `HEAD` requests get the head of the response but no body (except for
//!   `Route::Custom`, which decides for itself).
//! - A request body announced by `Content-Length` is read and discarded before
//!   a built-in route answers (`Expect: 100-continue` is honoured).
//! - Hostile routes without a content type of their own (`Truncated`, `Drip`,
//!   `Endless`, `GzipBomb`, `ManyHeaders`) send `Content-Type: text/html`, so a
//!   client that only archives HTML still reaches the hostile part.
//! - Write errors caused by a client that went away end that connection
//!   quietly.
//!
//! Dropping the [`TestServer`] sets a shutdown flag, wakes the accept thread
//! with a self-connect and waits (at most ~2 s) for every connection thread to
//! notice the flag; all socket waits poll it at least every 50 ms, so even
//! `Hang`, `Drip` and `Endless` connections end promptly. If a
//! `Route::Custom` handler panicked, dropping the server panics too (unless
//! the thread is already panicking), so the failure is not lost in a
//! background thread.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::Compression;

/// Largest accepted request head (request line + headers).
const MAX_HEAD: usize = 64 * 1024;
/// Socket read/write timeout: how often blocked I/O re-checks the shutdown flag.
const POLL: Duration = Duration::from_millis(50);
/// A client gets this long to send a complete request head.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// Request bodies up to this size are drained before a built-in route answers.
const MAX_DRAINED_BODY: u64 = 64 * 1024 * 1024;
/// After a built-in response, unread client bytes are drained for this long
/// before closing (avoids a TCP reset destroying the response in flight).
const LINGER: Duration = Duration::from_millis(500);
/// Read/write timeouts on the stream handed to a `Route::Custom` handler.
const CUSTOM_TIMEOUT: Duration = Duration::from_secs(5);
/// How long dropping the server waits for its threads before detaching them.
const DROP_GRACE: Duration = Duration::from_secs(2);
/// Size of the `Endless` route's chunks.
const ENDLESS_CHUNK: usize = 64 * 1024;
/// Inflated size of one repeated deflate block of the gzip bomb.
const BOMB_BLOCK: usize = 1024 * 1024;

/// The handler of a [`Route::Custom`].
pub type Handler = dyn Fn(&RequestHead, &mut TcpStream) + Send + Sync;

/// What the server does for one path.
#[derive(Clone)]
pub enum Route {
    /// `200 OK` with `Content-Type`, `Content-Length` and exactly `body`.
    Ok {
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// Any status. `Content-Type` (omitted when `content_type` is empty) and
    /// `Content-Length` (omitted for 1xx/204/304, or when `headers` has its own
    /// `Content-Length` or `Transfer-Encoding`) come first, then `headers`
    /// verbatim (raw values, may be non-UTF-8), then `body` as is. A
    /// `Connection` header in `headers` replaces the default `Connection: close`
    /// (the connection is closed after the response regardless).
    Status {
        status: u16,
        reason: &'static str,
        content_type: &'static str,
        body: Vec<u8>,
        headers: Vec<(String, Vec<u8>)>,
    },
    /// `status` (301, 302, 303, 307, 308, ...) with `Location: location` and an
    /// empty body.
    Redirect { status: u16, location: String },
    /// `200 OK`, body gzip-compressed on every request, `Content-Encoding:
    /// gzip`. With `chunked`, sent as `Transfer-Encoding: chunked` (in several
    /// chunks) instead of with a `Content-Length`.
    Gzip {
        content_type: &'static str,
        body: Vec<u8>,
        chunked: bool,
    },
    /// `Content-Length: claimed`, but only `body` is sent, then the connection
    /// is closed.
    Truncated { claimed: usize, body: Vec<u8> },
    /// Reads the request and never answers; the socket stays open until the
    /// server shuts down.
    Hang,
    /// Sends a `200` head (no `Content-Length`, body delimited by close), then
    /// one byte (`b'x'`) every `interval`, until the client goes away or the
    /// server shuts down.
    Drip { interval: Duration },
    /// `200` with a chunked body that never ends: 64 KiB chunks of `b'x'`
    /// until the client goes away or the server shuts down.
    Endless,
    /// A gzip bomb: `200`, `Content-Encoding: gzip`, a `Content-Length` of
    /// about `inflated / 1000` bytes that inflate to exactly `inflated` zero
    /// bytes (valid CRC and size trailer). Built once when the server starts,
    /// from one repeated 1 MiB block; the inflated bytes are never held in
    /// memory.
    GzipBomb { inflated: u64 },
    /// `200` with `count` extra headers `X-Pad-0: v` ... `X-Pad-{count-1}: v`
    /// before `Content-Type`, `Content-Length` and `body`.
    ManyHeaders { count: usize, body: Vec<u8> },
    /// `200` whose body changes on every request: `bodies[hit % bodies.len()]`,
    /// where `hit` is the number of earlier requests to this route.
    Sequence {
        content_type: &'static str,
        bodies: Vec<Vec<u8>>,
    },
    /// Full control. The handler gets the parsed request head and the stream,
    /// positioned just after the head: any request body is still unread and
    /// nothing has been written (not even `100 Continue`). The stream has 5 s
    /// read and write timeouts; it is shut down and closed when the handler
    /// returns. [`write_response`] helps write a well-formed response.
    Custom(Arc<Handler>),
}

impl Route {
    /// A `206 Partial Content` answer: the first bytes of a 100,000-byte page, which exhibit,
    /// never asking for a range, must refuse.
    pub fn partial_content() -> Route {
        Route::Status {
            status: 206,
            reason: "Partial Content",
            content_type: "text/html",
            body: b"<html><bo".to_vec(),
            headers: vec![("Content-Range".into(), b"bytes 0-9/100000".to_vec())],
        }
    }

    /// `Route::Ok` with `text/html; charset=utf-8`.
    pub fn html(body: impl Into<Vec<u8>>) -> Route {
        Route::Ok {
            content_type: "text/html; charset=utf-8",
            body: body.into(),
        }
    }

    /// `Route::Ok` with `text/plain; charset=utf-8`.
    pub fn text(body: impl Into<Vec<u8>>) -> Route {
        Route::Ok {
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    /// Answers 200 with `Connection: keep-alive` and then, 20 ms later, closes the connection,
    /// as a server does whose keep-alive timeout runs out between two requests: a client that
    /// reuses the connection has written its next request into it by then.
    pub fn keep_alive_then_close(content_type: &'static str, body: Vec<u8>) -> Route {
        Route::custom(move |_, stream| {
            // The client may stop reading (a size limit): that is not the test's failure.
            let _ = write_response(
                stream,
                200,
                &[
                    ("Content-Type", content_type.as_bytes()),
                    ("Connection", b"keep-alive"),
                ],
                &body,
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        })
    }

    /// Two routes, `/hold` and `/settled`, that keep a browser page from settling until its
    /// script says it is done. `/hold` answers `204` only once `/settled` has been requested
    /// (or after `bound`, so a page that never says so still ends); `/settled` answers `204`
    /// at once. A page fetches `/hold` first and `/settled` after its last handler wrote to the
    /// DOM: a request stays in flight until then, so the capture cannot settle before the DOM
    /// holds what the test looks for, however slowly a loaded machine runs the handlers. The
    /// test then insists `/settled` was hit once (a page that never got there fails plainly).
    pub fn hold_until_settled(bound: Duration) -> [(&'static str, Route); 2] {
        let settled = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let (hold, done) = (Arc::clone(&settled), settled);
        [
            (
                "/hold",
                Route::custom(move |_, stream| {
                    let (flag, cv) = &*hold;
                    let guard = flag.lock().unwrap_or_else(|e| e.into_inner());
                    drop(cv.wait_timeout_while(guard, bound, |s| !*s));
                    let _ = write_response(stream, 204, &[], b"");
                }),
            ),
            (
                "/settled",
                Route::custom(move |_, stream| {
                    let (flag, cv) = &*done;
                    *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
                    cv.notify_all();
                    let _ = write_response(stream, 204, &[], b"");
                }),
            ),
        ]
    }

    /// `Route::Custom` from a closure.
    pub fn custom(handler: impl Fn(&RequestHead, &mut TcpStream) + Send + Sync + 'static) -> Route {
        Route::Custom(Arc::new(handler))
    }
}

/// A parsed request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method as sent (`GET`, `HEAD`, ...).
    pub method: String,
    /// The request target as sent, query included (`/a?x=1`).
    pub path: String,
    /// Header names and values as received, in order (values trimmed of
    /// surrounding whitespace; non-UTF-8 bytes replaced by U+FFFD).
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running test server; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on `127.0.0.1:0` serving `routes` (exact paths, each
    /// starting with `/`).
    ///
    /// Panics on a duplicate path, a path not starting with `/`, or a
    /// `Sequence` without bodies.
    pub fn start(routes: Vec<(&str, Route)>) -> TestServer {
        let mut table = HashMap::new();
        for (path, route) in routes {
            assert!(
                path.starts_with('/'),
                "route path {path:?} must start with '/'"
            );
            if let Route::Sequence { bodies, .. } = &route {
                assert!(
                    !bodies.is_empty(),
                    "Route::Sequence for {path:?} has no bodies"
                );
            }
            let bomb = match &route {
                Route::GzipBomb { inflated } => Some(Bomb::new(*inflated)),
                _ => None,
            };
            let previous = table.insert(path.to_string(), Entry { route, bomb });
            assert!(previous.is_none(), "duplicate route {path:?}");
        }

        let listener = TcpListener::bind("127.0.0.1:0").expect("test server: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("test server: local_addr");
        let shared = Arc::new(Shared {
            routes: table,
            shutdown: AtomicBool::new(false),
            stats: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
            conns: Mutex::new(Vec::new()),
            handler_panics: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name(format!("test-server-accept-{}", addr.port()))
            .spawn(move || accept_loop(listener, accept_shared))
            .expect("test server: spawn accept thread");
        TestServer {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// `http://127.0.0.1:PORT/path` (a missing leading `/` is added).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("http://{}{}", self.addr, path)
        } else {
            format!("http://{}/{}", self.addr, path)
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many requests were received for `path` (the route key; for unknown
    /// paths, the path without query). 0 if never requested.
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.shared.stats).get(path).map_or(0, |s| s.hits)
    }

    /// The headers of the latest request for `path`, as received, in order.
    /// Empty if never requested.
    pub fn last_request_headers(&self, path: &str) -> Vec<(String, String)> {
        lock(&self.shared.stats)
            .get(path)
            .map(|s| s.last_headers.clone())
            .unwrap_or_default()
    }

    /// Number of connection threads still running (e.g. to check that a
    /// `Drip` or `Endless` response stopped once the client went away). A
    /// thread may outlive its response briefly (it drains the client for up
    /// to 0.5 s before closing), so poll with [`TestServer::wait_idle`].
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Waits up to `timeout` for `open_connections()` to reach 0; true if it did.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.open_connections() == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the accept thread, blocked in accept(). If this fails the thread
        // is simply left detached after the grace period.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let deadline = Instant::now() + DROP_GRACE;
        if let Some(handle) = self.accept_thread.take() {
            join_until(handle, deadline);
        }
        let conns = std::mem::take(&mut *lock(&self.shared.conns));
        for handle in conns {
            join_until(handle, deadline);
        }
        let panics = std::mem::take(&mut *lock(&self.shared.handler_panics));
        if !panics.is_empty() && !thread::panicking() {
            panic!(
                "test server: Route::Custom handler panicked: {}",
                panics.join("; ")
            );
        }
    }
}

/// Writes a complete response for a `Route::Custom` handler: status line with
/// the standard reason phrase, `headers` verbatim, then `Content-Length`
/// (unless `headers` has `Content-Length` or `Transfer-Encoding`) and
/// `Connection: close` (unless `headers` has `Connection`), then `body`.
pub fn write_response(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> io::Result<()> {
    let mut head = Head::new(status, reason_phrase(status));
    for (name, value) in headers {
        head.header(name, value);
    }
    if !has_header(
        headers.iter().map(|(n, _)| *n),
        &["content-length", "transfer-encoding"],
    ) {
        head.header("Content-Length", body.len().to_string().as_bytes());
    }
    let mut out = head.finish();
    out.extend_from_slice(body);
    stream.write_all(&out)?;
    stream.flush()
}

// ---------------------------------------------------------------------------
// Internals

struct Entry {
    route: Route,
    bomb: Option<Bomb>,
}

#[derive(Default)]
struct PathStats {
    hits: usize,
    last_headers: Vec<(String, String)>,
}

struct Shared {
    routes: HashMap<String, Entry>,
    shutdown: AtomicBool,
    stats: Mutex<HashMap<String, PathStats>>,
    open: AtomicUsize,
    conns: Mutex<Vec<JoinHandle<()>>>,
    handler_panics: Mutex<Vec<String>>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Counts a request; returns the number of earlier requests to `key`.
    fn record(&self, key: &str, headers: &[(String, String)]) -> usize {
        let mut stats = lock(&self.stats);
        let entry = stats.entry(key.to_string()).or_default();
        let earlier = entry.hits;
        entry.hits += 1;
        entry.last_headers = headers.to_vec();
        earlier
    }
}

/// Locks a mutex, ignoring poisoning (a panicking handler must not cascade).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn join_until(handle: JoinHandle<()>, deadline: Instant) {
    while !handle.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(2));
    }
    if handle.is_finished() {
        let _ = handle.join();
    }
    // Otherwise: detached; it ends on its own once it notices the shutdown.
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopping() {
            break;
        }
        match conn {
            Ok(stream) => spawn_connection(stream, &shared),
            // E.g. EMFILE: back off instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Decrements the open-connection count when a connection thread ends, even
/// by unwinding.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn spawn_connection(stream: TcpStream, shared: &Arc<Shared>) {
    shared.open.fetch_add(1, Ordering::SeqCst);
    let guard = OpenGuard(Arc::clone(shared));
    let spawned = thread::Builder::new()
        .name("test-server-conn".to_string())
        .spawn(move || {
            let shared = Arc::clone(&guard.0);
            handle_connection(Conn {
                stream,
                shared: &shared,
            });
            drop(guard);
        });
    // On a spawn error the closure (stream and guard) is dropped: the
    // connection closes and the count is restored.
    if let Ok(handle) = spawned {
        let mut conns = lock(&shared.conns);
        conns.retain(|h| !h.is_finished());
        conns.push(handle);
    }
}

/// One accepted connection.
struct Conn<'a> {
    stream: TcpStream,
    shared: &'a Shared,
}

fn is_retryable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn shutting_down() -> io::Error {
    io::Error::other("test server shutting down")
}

impl Conn<'_> {
    fn stopping(&self) -> bool {
        self.shared.stopping()
    }

    /// write_all that keeps re-checking the shutdown flag while the client
    /// does not read.
    fn send(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            if self.stopping() {
                return Err(shutting_down());
            }
            match self.stream.write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if is_retryable(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sleeps `d` in short slices; false if the server started shutting down.
    fn pause(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        loop {
            if self.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            thread::sleep((deadline - now).min(POLL));
        }
    }

    /// Reads and discards exactly `n` bytes (bounded by a deadline).
    fn discard(&mut self, mut n: u64) -> io::Result<()> {
        let deadline = Instant::now() + HEAD_DEADLINE;
        let mut buf = [0u8; 16 * 1024];
        while n > 0 {
            if self.stopping() {
                return Err(shutting_down());
            }
            if Instant::now() >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let want = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            match self.stream.read(&mut buf[..want]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(k) => n -= k as u64,
                Err(e) if is_retryable(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Ends a response: FIN to the client, then drain whatever it still sends
    /// for a short while so the kernel does not answer with a reset.
    fn finish(mut self) {
        let _ = self.stream.flush();
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER;
        let mut buf = [0u8; 4096];
        while !self.stopping() && Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_retryable(&e) => {}
                Err(_) => break,
            }
        }
    }

    /// Reads the request head, consuming exactly its bytes (up to and
    /// including the blank line), so a request body stays in the stream.
    fn read_head(&mut self) -> HeadRead {
        let deadline = Instant::now() + HEAD_DEADLINE;
        let mut head = Vec::new();
        let mut tmp = [0u8; 8192];
        loop {
            if self.stopping() || Instant::now() >= deadline {
                return HeadRead::Gone;
            }
            let n = match self.stream.peek(&mut tmp) {
                Ok(0) => return HeadRead::Gone,
                Ok(n) => n,
                Err(e) if is_retryable(&e) => continue,
                Err(_) => return HeadRead::Gone,
            };
            let old = head.len();
            head.extend_from_slice(&tmp[..n]);
            let (take, done) = match find_head_end(&head, old) {
                Some(end) => {
                    head.truncate(end);
                    (end - old, true)
                }
                None => (n, false),
            };
            // These bytes were just peeked, so this read does not block.
            if self.stream.read_exact(&mut tmp[..take]).is_err() {
                return HeadRead::Gone;
            }
            if head.len() > MAX_HEAD {
                return HeadRead::TooLarge;
            }
            if done {
                return HeadRead::Complete(head);
            }
        }
    }

    fn respond(mut self, head: Vec<u8>, body: &[u8], send_body: bool) {
        let sent = self.send(&head);
        if sent.is_ok() && send_body {
            let _ = self.send(body);
        }
        self.finish();
    }
}

enum HeadRead {
    Complete(Vec<u8>),
    TooLarge,
    Gone,
}

/// End of the head (index just past the blank line) in `buf`, looking only at
/// terminators that involve bytes from `new_from` on. Leading empty lines are
/// skipped; bare `\n` line endings are accepted.
fn find_head_end(buf: &[u8], new_from: usize) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let mut i = start.max(new_from.saturating_sub(2));
    while i < buf.len() {
        if buf[i] == b'\n' {
            match buf.get(i + 1) {
                Some(b'\n') => return Some(i + 2),
                Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_head(raw: &[u8]) -> Option<RequestHead> {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_start_matches(['\r', '\n']);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));

    let mut parts = lines.next()?.split(' ').filter(|p| !p.is_empty());
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_token(method) || !version.starts_with("HTTP/") {
        return None;
    }

    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            // Obsolete line folding: continues the previous value.
            let (_, value) = headers.last_mut()?;
            value.push(' ');
            value.push_str(line.trim_matches([' ', '\t']));
            continue;
        }
        let (name, value) = line.split_once(':')?;
        if !is_token(name) {
            return None;
        }
        headers.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Some(RequestHead {
        method: method.to_string(),
        path: target.to_string(),
        headers,
    })
}

/// The route key for a request target, and its route if there is one.
fn lookup<'a>(shared: &'a Shared, target: &str) -> (String, Option<&'a Entry>) {
    let mut path = target;
    for scheme in ["http://", "https://"] {
        if let Some(rest) = path.strip_prefix(scheme) {
            path = rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    if let Some(entry) = shared.routes.get(path) {
        return (path.to_string(), Some(entry));
    }
    let bare = path.split(['?', '#']).next().unwrap_or(path);
    (bare.to_string(), shared.routes.get(bare))
}

/// Builder for a response head.
struct Head {
    buf: Vec<u8>,
    has_connection: bool,
}

impl Head {
    fn new(status: u16, reason: &str) -> Head {
        Head {
            buf: format!("HTTP/1.1 {status} {reason}\r\n").into_bytes(),
            has_connection: false,
        }
    }

    fn header(&mut self, name: &str, value: &[u8]) -> &mut Head {
        self.has_connection |= name.eq_ignore_ascii_case("connection");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b": ");
        self.buf.extend_from_slice(value);
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    fn finish(mut self) -> Vec<u8> {
        if !self.has_connection {
            self.buf.extend_from_slice(b"Connection: close\r\n");
        }
        self.buf.extend_from_slice(b"\r\n");
        self.buf
    }
}

fn has_header<'a>(mut names: impl Iterator<Item = &'a str>, wanted: &[&str]) -> bool {
    names.any(|n| wanted.iter().any(|w| n.eq_ignore_ascii_case(w)))
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// A plain-text response for protocol-level errors and unknown paths.
fn simple(status: u16, body: &[u8]) -> Vec<u8> {
    let mut head = Head::new(status, reason_phrase(status));
    head.header("Content-Type", b"text/plain; charset=utf-8");
    head.header("Content-Length", body.len().to_string().as_bytes());
    head.finish()
}

fn ok_head(content_type: &str, body_len: usize) -> Vec<u8> {
    let mut head = Head::new(200, "OK");
    head.header("Content-Type", content_type.as_bytes());
    head.header("Content-Length", body_len.to_string().as_bytes());
    head.finish()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("gzip into a Vec");
    enc.finish().expect("gzip into a Vec")
}

fn handle_connection(mut conn: Conn<'_>) {
    let _ = conn.stream.set_nodelay(true);
    let _ = conn.stream.set_read_timeout(Some(POLL));
    let _ = conn.stream.set_write_timeout(Some(POLL));

    let raw = match conn.read_head() {
        HeadRead::Complete(raw) => raw,
        HeadRead::TooLarge => {
            let body = b"request head too large\n";
            return conn.respond(simple(431, body), body, true);
        }
        HeadRead::Gone => return,
    };
    let Some(head) = parse_head(&raw) else {
        let body = b"bad request\n";
        return conn.respond(simple(400, body), body, true);
    };
    let shared = conn.shared;
    let (key, entry) = lookup(shared, &head.path);
    let earlier_hits = shared.record(&key, &head.headers);

    if let Some(Entry {
        route: Route::Custom(handler),
        ..
    }) = entry
    {
        return run_custom(conn, handler.as_ref(), &head);
    }

    // Built-in routes: consume a Content-Length request body first.
    let body_len = head
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if body_len > 0 && body_len <= MAX_DRAINED_BODY {
        let expects_continue = head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if expects_continue && conn.send(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
            return;
        }
        if conn.discard(body_len).is_err() {
            return;
        }
    }
    let send_body = head.method != "HEAD";

    let Some(entry) = entry else {
        let body = b"not found\n";
        return conn.respond(simple(404, body), body, send_body);
    };
    match &entry.route {
        Route::Ok { content_type, body } => {
            conn.respond(ok_head(content_type, body.len()), body, send_body)
        }
        Route::Status {
            status,
            reason,
            content_type,
            body,
            headers,
        } => {
            let mut h = Head::new(*status, reason);
            if !content_type.is_empty()
                && !has_header(headers.iter().map(|(n, _)| n.as_str()), &["content-type"])
            {
                h.header("Content-Type", content_type.as_bytes());
            }
            let bodyless_status = matches!(*status, 100..=199 | 204 | 304);
            let framed_by_user = has_header(
                headers.iter().map(|(n, _)| n.as_str()),
                &["content-length", "transfer-encoding"],
            );
            if !bodyless_status && !framed_by_user {
                h.header("Content-Length", body.len().to_string().as_bytes());
            }
            for (name, value) in headers {
                h.header(name, value);
            }
            conn.respond(h.finish(), body, send_body)
        }
        Route::Redirect { status, location } => {
            let mut h = Head::new(*status, reason_phrase(*status));
            h.header("Location", location.as_bytes());
            h.header("Content-Length", b"0");
            conn.respond(h.finish(), b"", send_body)
        }
        Route::Gzip {
            content_type,
            body,
            chunked,
        } => serve_gzip(conn, content_type, body, *chunked, send_body),
        Route::Truncated { claimed, body } => {
            conn.respond(ok_head("text/html", *claimed), body, send_body)
        }
        Route::Hang => hang(conn),
        Route::Drip { interval } => drip(conn, *interval, send_body),
        Route::Endless => endless(conn, send_body),
        Route::GzipBomb { .. } => {
            let bomb = entry.bomb.as_ref().expect("bomb prepared at start");
            bomb.serve(conn, send_body)
        }
        Route::ManyHeaders { count, body } => {
            let mut h = Head::new(200, "OK");
            for i in 0..*count {
                h.header(&format!("X-Pad-{i}"), b"v");
            }
            h.header("Content-Type", b"text/html");
            h.header("Content-Length", body.len().to_string().as_bytes());
            conn.respond(h.finish(), body, send_body)
        }
        Route::Sequence {
            content_type,
            bodies,
        } => {
            let body = &bodies[earlier_hits % bodies.len()];
            conn.respond(ok_head(content_type, body.len()), body, send_body)
        }
        Route::Custom(_) => unreachable!("handled above"),
    }
}

fn run_custom(mut conn: Conn<'_>, handler: &Handler, head: &RequestHead) {
    let _ = conn.stream.set_read_timeout(Some(CUSTOM_TIMEOUT));
    let _ = conn.stream.set_write_timeout(Some(CUSTOM_TIMEOUT));
    let stream = &mut conn.stream;
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| handler(head, stream)));
    if let Err(payload) = outcome {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_string());
        lock(&conn.shared.handler_panics).push(format!("{} {}: {msg}", head.method, head.path));
    }
    let _ = conn.stream.set_read_timeout(Some(POLL));
    let _ = conn.stream.set_write_timeout(Some(POLL));
    conn.finish();
}

fn serve_gzip(mut conn: Conn<'_>, content_type: &str, body: &[u8], chunked: bool, send_body: bool) {
    let compressed = gzip(body);
    let mut h = Head::new(200, "OK");
    h.header("Content-Type", content_type.as_bytes());
    h.header("Content-Encoding", b"gzip");
    if !chunked {
        h.header("Content-Length", compressed.len().to_string().as_bytes());
        return conn.respond(h.finish(), &compressed, send_body);
    }
    h.header("Transfer-Encoding", b"chunked");
    if conn.send(&h.finish()).is_err() {
        return;
    }
    if send_body {
        // Several chunks, so chunk boundaries fall inside the gzip stream.
        let piece = (compressed.len() / 3).clamp(1, 16 * 1024);
        let mut out = Vec::with_capacity(compressed.len() + 64);
        for chunk in compressed.chunks(piece) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        if conn.send(&out).is_err() {
            return;
        }
    }
    conn.finish();
}

/// Never answers; keeps the socket open until shutdown.
fn hang(mut conn: Conn<'_>) {
    let mut buf = [0u8; 4096];
    let mut client_done = false;
    while !conn.stopping() {
        if client_done {
            thread::sleep(POLL);
            continue;
        }
        match conn.stream.read(&mut buf) {
            Ok(0) => client_done = true,
            Ok(_) => {}
            Err(e) if is_retryable(&e) => {}
            Err(_) => client_done = true,
        }
    }
}

fn drip(mut conn: Conn<'_>, interval: Duration, send_body: bool) {
    let mut h = Head::new(200, "OK");
    h.header("Content-Type", b"text/html");
    if conn.send(&h.finish()).is_err() || !send_body {
        return conn.finish();
    }
    // Ends on shutdown or on the first failed write after the client left.
    while conn.pause(interval) && conn.send(b"x").is_ok() {}
}

fn endless(mut conn: Conn<'_>, send_body: bool) {
    let mut h = Head::new(200, "OK");
    h.header("Content-Type", b"text/html");
    h.header("Transfer-Encoding", b"chunked");
    if conn.send(&h.finish()).is_err() || !send_body {
        return conn.finish();
    }
    let mut chunk = format!("{ENDLESS_CHUNK:x}\r\n").into_bytes();
    chunk.resize(chunk.len() + ENDLESS_CHUNK, b'x');
    chunk.extend_from_slice(b"\r\n");
    while conn.send(&chunk).is_ok() {}
}

/// A prepared gzip bomb: gzip header, `repeats` copies of `block` (a raw
/// deflate segment, ending on a byte boundary after a sync flush, that
/// inflates to `BOMB_BLOCK` zeros and references nothing before itself), a
/// final deflate segment for the remainder, and the CRC-32/size trailer.
struct Bomb {
    inflated: u64,
    block: Vec<u8>,
    repeats: u64,
    tail: Vec<u8>,
    crc: u32,
}

impl Bomb {
    fn new(inflated: u64) -> Bomb {
        let repeats = inflated / BOMB_BLOCK as u64;
        let remainder = (inflated % BOMB_BLOCK as u64) as usize;
        let block = if repeats > 0 {
            let mut enc = DeflateEncoder::new(Vec::new(), Compression::best());
            enc.write_all(&vec![0u8; BOMB_BLOCK])
                .expect("deflate into a Vec");
            enc.flush().expect("deflate into a Vec"); // sync flush: byte-aligned, not final
            std::mem::take(enc.get_mut())
        } else {
            Vec::new()
        };
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::best());
        enc.write_all(&vec![0u8; remainder])
            .expect("deflate into a Vec");
        let tail = enc.finish().expect("deflate into a Vec");
        Bomb {
            inflated,
            block,
            repeats,
            tail,
            crc: crc32_of_zeros(inflated),
        }
    }

    fn wire_len(&self) -> u64 {
        10 + self.repeats * self.block.len() as u64 + self.tail.len() as u64 + 8
    }

    fn serve(&self, mut conn: Conn<'_>, send_body: bool) {
        let mut h = Head::new(200, "OK");
        h.header("Content-Type", b"text/html");
        h.header("Content-Encoding", b"gzip");
        h.header("Content-Length", self.wire_len().to_string().as_bytes());
        let mut out = h.finish();
        if !send_body {
            return conn.respond(out, b"", false);
        }
        // gzip header: magic, deflate, no flags, mtime 0, max compression, unknown OS.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff]);
        if conn.send(&out).is_err() {
            return;
        }
        const BATCH: u64 = 64;
        let batch = self.block.repeat(BATCH.min(self.repeats) as usize);
        let mut left = self.repeats;
        while left > 0 {
            let n = BATCH.min(left);
            if conn.send(&batch[..n as usize * self.block.len()]).is_err() {
                return;
            }
            left -= n;
        }
        let mut end = self.tail.clone();
        end.extend_from_slice(&self.crc.to_le_bytes());
        end.extend_from_slice(&(self.inflated as u32).to_le_bytes()); // ISIZE: size mod 2^32
        if conn.send(&end).is_err() {
            return;
        }
        conn.finish();
    }
}

/// CRC-32 (IEEE, as used by gzip) of `n` zero bytes, in O(log n): the CRC
/// register is a linear function of its previous value for a zero input, so
/// the one-zero-byte operator (a 32x32 GF(2) matrix) is raised to the n-th
/// power by repeated squaring.
fn crc32_of_zeros(n: u64) -> u32 {
    type Matrix = [u32; 32];
    fn apply(m: &Matrix, v: u32) -> u32 {
        m.iter()
            .enumerate()
            .filter(|(i, _)| (v >> i) & 1 == 1)
            .fold(0, |acc, (_, col)| acc ^ col)
    }
    fn square(m: &Matrix) -> Matrix {
        let mut out = [0u32; 32];
        for (o, col) in out.iter_mut().zip(m.iter()) {
            *o = apply(m, *col);
        }
        out
    }
    // One zero bit: reg = (reg >> 1) ^ (reg & 1 ? poly : 0).
    let mut op: Matrix = [0; 32];
    op[0] = 0xEDB8_8320;
    for (i, col) in op.iter_mut().enumerate().skip(1) {
        *col = 1 << (i - 1);
    }
    for _ in 0..3 {
        op = square(&op); // 2, 4, then 8 zero bits = one zero byte
    }
    let mut reg = 0xFFFF_FFFFu32;
    let mut n = n;
    while n > 0 {
        if n & 1 == 1 {
            reg = apply(&op, reg);
        }
        op = square(&op);
        n >>= 1;
    }
    !reg
}
