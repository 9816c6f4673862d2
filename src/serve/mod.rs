//! `exhibit serve`: a read-only web viewer of an archive. It promises that every ✓ it shows was
//! computed by `verify::record::check_record` while the page was served, against one checkpoint
//! read once per request, so a page never mixes two states of an archive that other processes are
//! writing to; and that nothing it serves comes from the live web.
//!
//! Two listeners, two origins: the viewer (pages, JSON API, the checkpoint) and the archived
//! documents (on another port, each with a `sandbox` Content-Security-Policy and scripts blocked),
//! so a hostile archived page can never read the viewer's pages or call its API as the viewer.
//!
//! May import every library layer below it (ops, formats, verify, text, archive, trust, core).
//! Not the CLI: it returns errors and prints only its access log.

mod http;
mod pages;
mod routes;

pub use http::{etag_listed, host_of, replay_record};

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::trust::Anchor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How the server listens and what it trusts.
pub struct Options {
    /// The viewer's address.
    pub bind: SocketAddr,
    /// The archived documents' address (another origin); `None`: the viewer's IP, next port.
    pub documents_bind: Option<SocketAddr>,
    pub anchor: Anchor,
    /// Open connections at most, both listeners together; a client beyond it waits in the
    /// kernel's accept queue, never in the server's memory.
    pub max_connections: usize,
    /// A client must send a whole request head within this time (slowloris).
    pub header_timeout: Duration,
    /// One line per request on stderr.
    pub access_log: bool,
    /// Documents larger than this are read in full once per checkpoint, not on every visit.
    pub reverify_above: u64,
    /// Host names besides loopback and the bound address that requests may name (a public
    /// name the server is reached by); anything else is refused with 421 (DNS rebinding).
    pub allowed_hosts: Vec<String>,
}

/// Where the server listens, once bound.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub viewer: SocketAddr,
    pub documents: SocketAddr,
}

/// A request head (request line and headers) larger than this is refused with 431 or 414 by
/// hyper before any handler runs: no page needs more, and a 1 MB query string costs nothing.
const MAX_HEAD: usize = 16 * 1024;

/// Every connection ends after this long, whatever it does: a client that reads a response a
/// byte at a time cannot hold a connection slot forever. Long enough for a large document on a
/// slow line.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Blocking work (archive reads, verification) runs on at most this many threads, so a burst of
/// requests queues instead of starting hundreds of threads that all read the disk at once.
const BLOCKING_THREADS: usize = 8;

/// A record's verdict, the checkpoint text it was reached against, and when.
type KeptVerdict = (String, crate::verify::RecordReport, jiff::Timestamp);

pub(crate) struct App {
    pub archive: Archive,
    pub anchor: Anchor,
    pub bound: Bound,
    pub access_log: bool,
    pub reverify_above: u64,
    pub allowed_hosts: Vec<String>,
    pub verdicts: std::sync::Mutex<std::collections::HashMap<String, KeptVerdict>>,
    pub urls: std::sync::Mutex<UrlMap>,
    /// The tree size up to which `log/hashes` was recomputed to a verified checkpoint's root:
    /// tiles are cached by clients for good, so none is served from hashes not checked.
    pub tiles_checked: std::sync::Mutex<u64>,
}

/// Which records are of which URL (requested or final), for the first `size` leaves. The log
/// only grows, so a later checkpoint costs only the manifests of its new records: a URL's
/// history reads its own manifests, not the whole archive's.
#[derive(Default)]
pub(crate) struct UrlMap {
    pub size: u64,
    pub by_url: std::collections::HashMap<String, Vec<crate::record_id::RecordId>>,
}

/// Bind both listeners, call `ready` with their addresses, then serve until the process ends.
pub fn run(archive: Archive, opts: Options, ready: impl FnOnce(&Bound)) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .map_err(|e| Error::archive(format!("cannot start the server's runtime: {e}")))?;
    rt.block_on(async move {
        let bind_err = |addr: SocketAddr, e: std::io::Error| {
            Error::usage(format!("cannot listen on {addr}: {e}"))
                .hint("choose another address or port with --bind (and --documents-bind)")
        };
        let viewer = TcpListener::bind(opts.bind)
            .await
            .map_err(|e| bind_err(opts.bind, e))?;
        let viewer_addr = viewer.local_addr().map_err(|e| bind_err(opts.bind, e))?;
        let docs_addr = opts.documents_bind.unwrap_or_else(|| {
            let port = match viewer_addr.port() {
                // An ephemeral viewer port (tests) gets an ephemeral documents port.
                _ if opts.bind.port() == 0 => 0,
                p => p.wrapping_add(1),
            };
            SocketAddr::new(viewer_addr.ip(), port)
        });
        let docs = TcpListener::bind(docs_addr)
            .await
            .map_err(|e| bind_err(docs_addr, e))?;
        let bound = Bound {
            viewer: viewer_addr,
            documents: docs.local_addr().map_err(|e| bind_err(docs_addr, e))?,
        };
        let app = Arc::new(App {
            archive,
            anchor: opts.anchor,
            bound,
            access_log: opts.access_log,
            reverify_above: opts.reverify_above,
            allowed_hosts: opts.allowed_hosts,
            verdicts: Default::default(),
            urls: Default::default(),
            tiles_checked: Default::default(),
        });
        ready(&bound);
        let limit = Arc::new(tokio::sync::Semaphore::new(opts.max_connections.max(1)));
        let a = tokio::spawn(accept_loop(
            viewer,
            routes::viewer(app.clone()),
            limit.clone(),
            opts.header_timeout,
        ));
        let b = tokio::spawn(accept_loop(
            docs,
            routes::documents(app),
            limit,
            opts.header_timeout,
        ));
        let _ = tokio::join!(a, b);
        Ok(())
    })
}

async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    limit: Arc<tokio::sync::Semaphore>,
    header_timeout: Duration,
) {
    use tower::ServiceExt;
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin, keep serving.
                eprintln!("exhibit serve: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let router = router.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                router.clone().oneshot(req.map(axum::body::Body::new))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(MAX_HEAD)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
            drop(permit);
        });
    }
}
