//! What each address answers. Every handler runs its archive work on the blocking pool, reads
//! the checkpoint once ([`Snapshot`]) and judges every record with `check_record` against it.

use super::http::{self, channel_body, etag_response, no_cache, with_etag, ChannelWriter};
use super::{pages, App};
use crate::core::digest::Sha256;
use crate::error::{Error, Kind};
use crate::manifest::Manifest;
use crate::record_id::RecordId;
use crate::verify::{self, record::check_record, LogState, RecordReport, Target};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

type Shared = Arc<App>;

pub fn viewer(app: Shared) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/search", get(search))
        .route("/style.css", get(style))
        .route("/copy.js", get(copy_js))
        .route("/r/{id}", get(record))
        .route("/r/{id}/document", get(download))
        .route("/r/{id}/export.wacz", get(wacz))
        .route("/u", get(history))
        .route("/c", get(change))
        .route("/api/records/{id}", get(api_record))
        .route("/api/verify/{target}", get(api_verify))
        .route("/api/proof/{id}", get(api_proof))
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), viewer_hosts))
        .layer(middleware::from_fn_with_state(app.clone(), viewer_headers))
        .with_state(app)
}

pub fn documents(app: Shared) -> Router {
    Router::new()
        .route("/d/{id}", get(archived))
        .route("/d/{id}/part/{n}", get(archived_part))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        // Outermost: a replay host is answered by the replay alone, whatever the path: a
        // replayed page's script must not reach /d/ (other records) on its own origin.
        .layer(middleware::from_fn_with_state(
            app.clone(),
            document_headers,
        ))
        .layer(middleware::from_fn_with_state(app.clone(), replay_hosts))
        // Outermost of all: no replay, no document for a host this server does not serve.
        .layer(middleware::from_fn_with_state(app.clone(), document_hosts))
        .with_state(app)
}

fn host_header(req: &HeaderMap) -> Option<&str> {
    req.get(header::HOST).and_then(|v| v.to_str().ok())
}

async fn viewer_hosts(State(app): State<Shared>, req: Request, next: Next) -> Response {
    if !http::host_allowed(
        host_header(req.headers()),
        app.bound.viewer,
        &app.allowed_hosts,
        false,
    ) {
        return http::misdirected();
    }
    next.run(req).await
}

async fn document_hosts(State(app): State<Shared>, req: Request, next: Next) -> Response {
    if !http::host_allowed(
        host_header(req.headers()),
        app.bound.documents,
        &app.allowed_hosts,
        true,
    ) {
        if app.access_log {
            eprintln!("{} 421", access_line("documents", &req));
        }
        return http::misdirected();
    }
    next.run(req).await
}

async fn replay_hosts(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match http::replay_record(host) {
        Some(input) => {
            let mut r = replay(app, input, req).await;
            http::common_headers(r.headers_mut());
            if !r.headers().contains_key(header::CONTENT_SECURITY_POLICY) {
                r.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(http::DOCUMENT_CSP),
                );
            }
            r
        }
        None => next.run(req).await,
    }
}

/// One state of the archive for one request: the checkpoint and key book as read once.
struct Snapshot {
    log: LogState,
    size: u64,
}

fn snapshot(app: &App) -> Snapshot {
    let log = LogState::load(&app.archive, &app.anchor);
    let size = log.checkpoint.as_ref().map_or(0, |c| c.size);
    Snapshot { log, size }
}

/// The record an input names within the snapshot (a record file written by a commit that has
/// not reached its checkpoint yet is not there). A document cited by several records stands for
/// the first of them, its original capture, as on the command line.
fn resolve(app: &App, snap: &Snapshot, input: &str) -> Result<RecordId, Error> {
    let (target, ids) = verify::lookup_checked(&app.archive, &snap.log, input)?;
    let id = ids[0];
    if let Target::Record(_) = target {
        if app
            .archive
            .manifest(&id)
            .is_ok_and(|m| m.log_index >= snap.size)
        {
            return Err(Error::not_found(format!(
                "no record {id} in the signed log yet"
            )));
        }
    }
    Ok(id)
}

async fn blocking(f: impl FnOnce() -> Response + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("exhibit serve: a request failed: {e}");
            html_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The request failed.",
                None,
            )
        }
    }
}

/// Every page goes out through here. Labels, titles and URLs on a page come from manifests
/// anyone may have written: a bidi override would show the ID or hash after it reversed, and
/// an escape sequence would reach whoever copies the text into a terminal. Escaping the whole
/// page, as the command line escapes what it prints, covers every value on every page at once
/// (the viewer's own text holds no such character; `\u{202e}` means nothing to HTML), and
/// shows each value as `exhibit show` and `exhibit cite` print it.
fn html(status: StatusCode, m: maud::Markup) -> Response {
    let page = crate::terminal::escape_lines(&m.into_string()).into_owned();
    let mut r = (status, page).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    no_cache(r)
}

fn html_error(status: StatusCode, message: &str, hint: Option<&str>) -> Response {
    html(status, pages::error(status.as_u16(), message, hint))
}

fn error_page(e: &Error, input: &str) -> Response {
    let (msg, hint) = http::public_message(e, input);
    html_error(http::status_of(e), &msg, hint.as_deref())
}

fn json_error(e: &Error, input: &str) -> Response {
    let (msg, hint) = http::public_message(e, input);
    let body = serde_json::json!({"error": msg, "hint": hint, "exit_code": e.kind.exit_code()});
    let mut r = (http::status_of(e), body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    no_cache(r)
}

fn json_body(v: &impl serde::Serialize) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

async fn not_found() -> Response {
    html_error(
        StatusCode::NOT_FOUND,
        "There is no page at this address.",
        Some("Records are at /r/RECORD-ID, URL histories at /u?url=URL."),
    )
}

async fn copy_js() -> Response {
    let mut r = pages::COPY_JS.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

async fn style() -> Response {
    let mut r = pages::STYLE.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// The documents' origin as this client reaches the server: the host it asked for (only when
/// it is one this server answers to, see `http::host_allowed`), the documents' port.
fn documents_origin(app: &App, headers: &HeaderMap) -> String {
    let bound = app.bound.documents;
    let fallback = if bound.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        match bound.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        }
    };
    let host = host_header(headers)
        .filter(|h| http::host_allowed(Some(h), app.bound.viewer, &app.allowed_hosts, false))
        .and_then(http::host_of)
        .unwrap_or(fallback);
    format!("http://{host}:{}", bound.port())
}

async fn viewer_headers(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let origin = documents_origin(&app, req.headers());
    let line = app.access_log.then(|| access_line("viewer", &req));
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    http::common_headers(h);
    if let Ok(v) = HeaderValue::from_str(&http::viewer_csp(&origin)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if let Some(l) = line {
        eprintln!("{l} {}", r.status().as_u16());
    }
    r
}

async fn document_headers(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let line = app.access_log.then(|| access_line("documents", &req));
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    http::common_headers(h);
    // A replayed page sets its own policy (http::REPLAY_CSP); everything else is sandboxed.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(http::DOCUMENT_CSP),
        );
    }
    if let Some(l) = line {
        eprintln!("{l} {}", r.status().as_u16());
    }
    r
}

fn access_line(origin: &str, req: &Request) -> String {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    // A URL pasted into /api/verify/… or /u?url=… may carry a password: the log keeps no copy
    // of it, however its `@` was encoded.
    let at_decoded = target.replace("%2540", "@").replace("%40", "@");
    let target = if at_decoded.contains('@') {
        crate::capture::mask_userinfo(&at_decoded)
    } else {
        target
    };
    format!(
        "{origin} {} {}",
        req.method(),
        crate::terminal::escape(&crate::terminal::cap(&target, 200))
    )
}

fn query(raw: Option<String>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Check paths with the archive's location taken out: a web client learns what failed, not
/// where the server keeps its files.
fn public_details(app: &App, r: &RecordReport) -> Vec<String> {
    let root = app.archive.root().display().to_string();
    r.checks
        .iter()
        .map(|c| c.detail.replace(&root, "<archive>"))
        .collect()
}

async fn overview(State(app): State<Shared>) -> Response {
    blocking(move || {
        let snap = snapshot(&app);
        let leaves = match app.archive.leaves(snap.size) {
            Ok(l) => l,
            Err(e) => return error_page(&e, ""),
        };
        let mut docs: Vec<Sha256> = leaves.iter().map(|l| l.sha256).collect();
        docs.sort_unstable();
        docs.dedup();
        let keys = snap
            .log
            .book()
            .map(|b| {
                b.keys()
                    .map(|k| {
                        let strongest = k.statuses.iter().max_by_key(|s| {
                            matches!(s.kind, crate::trust::statement::StatusKind::Compromised)
                        });
                        pages::KeyRow {
                            id: k.id.clone(),
                            status: strongest.map_or("active".into(), |s| {
                                format!("{} since {}", s.kind.as_str(), s.since)
                            }),
                            introduced: match &k.introduced {
                                crate::trust::book::Introduced::Root => {
                                    "trust anchor (founding or pinned key)".into()
                                }
                                crate::trust::book::Introduced::Added { record, by, .. } => {
                                    format!("added by key {by} in record {record}")
                                }
                            },
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let recent = leaves
            .iter()
            .rev()
            .take(20)
            .map(|l| (l.record_id.to_string(), l.sha256.to_string()))
            .collect();
        let o = pages::Overview {
            records: snap.size,
            documents: docs.len(),
            checkpoint: snap.log.text.as_deref(),
            checkpoint_problem: snap.log.problem.as_deref(),
            notes: &snap.log.notes,
            keys,
            keys_problem: snap.log.trust.as_ref().err().map(|s| s.what.as_str()),
            recent,
        };
        html(StatusCode::OK, pages::overview(&o))
    })
    .await
}

async fn search(State(app): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = query(q, "q").unwrap_or_default();
    let q = q.trim().to_string();
    if q.is_empty() {
        return Redirect::to("/").into_response();
    }
    if q.contains("://") {
        return Redirect::to(&format!("/u?url={}", pages::query_value(&q))).into_response();
    }
    blocking(move || {
        let snap = snapshot(&app);
        match resolve(&app, &snap, &q) {
            Ok(id) => Redirect::to(&format!("/r/{id}")).into_response(),
            Err(e) => error_page(&e, &q),
        }
    })
    .await
}

/// Resolve and check a record; `Err` is the response to give instead.
/// A verdict of `check_record`, and when it was reached.
struct Verdict {
    report: RecordReport,
    checked_at: jiff::Timestamp,
    /// Reached by an earlier request against the same checkpoint (a large document).
    reused: bool,
}

/// The verdict on record `id` in this snapshot. A record whose document is larger than
/// `App::reverify_above` is read in full once per checkpoint, not on every visit: its verdict is
/// kept with the checkpoint text it was reached against and reused while that is unchanged.
/// (Serving its document still checks every byte again.)
fn verdict(app: &App, snap: &Snapshot, id: &RecordId) -> Result<Verdict, Error> {
    let key = id.to_string();
    let large = app
        .archive
        .manifest(id)
        .is_ok_and(|m| m.document.size > app.reverify_above);
    let checkpoint = snap.log.text.clone().unwrap_or_default();
    if large {
        let kept = app.verdicts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cp, report, at)) = kept.get(&key) {
            if *cp == checkpoint {
                return Ok(Verdict {
                    report: report.clone(),
                    checked_at: *at,
                    reused: true,
                });
            }
        }
    }
    let report = check_record(&app.archive, &snap.log, &key, &mut std::io::sink())?
        .ok_or_else(|| crate::archive::no_such_record(id, app.archive.root()))?;
    let checked_at = jiff::Timestamp::now();
    if large {
        let mut kept = app.verdicts.lock().unwrap_or_else(|e| e.into_inner());
        // Verdicts of an older checkpoint are worthless: drop them all rather than grow.
        kept.retain(|_, (cp, _, _)| *cp == checkpoint);
        kept.insert(key, (checkpoint, report.clone(), checked_at));
    }
    Ok(Verdict {
        report,
        checked_at,
        reused: false,
    })
}

/// Resolve and check a record; `Err` is the response to give instead.
fn checked(
    app: &App,
    snap: &Snapshot,
    input: &str,
    canonical: impl Fn(&RecordId) -> String,
) -> Result<(RecordId, Verdict), Box<Response>> {
    let id = resolve(app, snap, input).map_err(|e| Box::new(error_page(&e, input)))?;
    let path = canonical(&id);
    if id.to_string() != input {
        // A hash, a prefix or an ID typed in lower case: one address per record.
        return Err(Box::new(Redirect::to(&path).into_response()));
    }
    match verdict(app, snap, &id) {
        Ok(v) => Ok((id, v)),
        Err(e) => Err(Box::new(error_page(&e, input))),
    }
}

async fn record(
    State(app): State<Shared>,
    Path(input): Path<String>,
    headers: HeaderMap,
) -> Response {
    blocking(move || {
        let snap = snapshot(&app);
        let (id, verdict) = match checked(&app, &snap, &input, |id| format!("/r/{id}")) {
            Ok(x) => x,
            Err(r) => return *r,
        };
        let report = verdict.report;
        let manifest = app.archive.manifest(&id).ok();
        let v = pages::RecordView {
            report: &report,
            manifest: manifest.as_ref(),
            document_url: format!("{}/d/{id}", documents_origin(&app, &headers)),
            tree_size: snap.size,
            reused: verdict.reused,
            checked_at: verdict
                .checked_at
                .to_zoned(jiff::tz::TimeZone::UTC)
                .strftime("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            details: public_details(&app, &report),
        };
        html(StatusCode::OK, pages::record(&v))
    })
    .await
}

/// A verified record's document, streamed from the store: checked first in full, then read
/// again as the client takes it (the store checks every byte and the hash again, and a
/// failure ends the response early instead of completing it).
fn stream_document(
    app: Arc<App>,
    m: &Manifest,
    headers: &HeaderMap,
    disposition: Option<String>,
) -> Response {
    let content_type = m
        .document
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    stream_blob(
        app,
        &m.document.sha256,
        m.document.size,
        &content_type,
        headers,
        disposition,
    )
}

/// Stream a stored document by its SHA-256: the store checks the bytes as they go, and the last
/// chunk is held until the hash is checked.
fn stream_blob(
    app: Arc<App>,
    sha: &str,
    size: u64,
    content_type: &str,
    headers: &HeaderMap,
    disposition: Option<String>,
) -> Response {
    let etag = format!("\"sha256:{sha}\"");
    let content_type = Some(content_type.to_string())
        .filter(|t| HeaderValue::from_str(t).is_ok())
        .unwrap_or_else(|| "application/octet-stream".into());
    let sha = match Sha256::checked(sha) {
        Ok(d) => d,
        Err(e) => return error_page(&e, ""),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut r = etag_response(headers, &etag, &content_type, channel_body(rx));
    if r.status() == StatusCode::OK {
        tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter::new(tx);
            match app.archive.read_document(&sha, &mut w) {
                Ok(_) => w.finish(),
                Err(e) => w.fail(e.to_string()),
            }
        });
        if let Ok(v) = HeaderValue::from_str(&size.to_string()) {
            r.headers_mut().insert(header::CONTENT_LENGTH, v);
        }
    }
    if let Some(d) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, d);
    }
    r
}

/// The record `input` names, once it verifies against one snapshot of the archive; else the
/// response to send instead (a redirect to its canonical address, not found, mistyped, or a
/// refusal): nothing of a record that does not verify is served.
fn verified(
    app: &App,
    input: &str,
    canonical: impl Fn(&RecordId) -> String,
) -> Result<RecordId, Box<Response>> {
    let snap = snapshot(app);
    let (id, verdict) = checked(app, &snap, input, canonical)?;
    if !verdict.report.ok {
        return Err(Box::new(refuse_unverified(&verdict.report, app)));
    }
    Ok(id)
}

fn refuse_unverified(report: &RecordReport, app: &App) -> Response {
    let why = public_details(app, report)
        .into_iter()
        .zip(&report.checks)
        .filter(|(_, c)| !c.ok)
        .map(|(d, c)| format!("{}: {d}", c.check))
        .collect::<Vec<_>>()
        .join("; ");
    html_error(
        StatusCode::CONFLICT,
        &format!(
            "Record {} does not verify, so its document is not served: {why}",
            report.record_id
        ),
        Some("The record page says what failed; `exhibit audit` checks the whole archive."),
    )
}

fn extension(content_type: Option<&str>) -> &'static str {
    let t = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    match t {
        "text/html" => "html",
        "text/plain" => "txt",
        "application/pdf" => "pdf",
        "application/json" => "json",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        _ => "bin",
    }
}

async fn download(
    State(app): State<Shared>,
    Path(input): Path<String>,
    headers: HeaderMap,
) -> Response {
    blocking(move || {
        let id = match verified(&app, &input, |id| format!("/r/{id}/document")) {
            Ok(id) => id,
            Err(r) => return *r,
        };
        let m = match app.archive.manifest(&id) {
            Ok(m) => m,
            Err(e) => return error_page(&e, &input),
        };
        let name = format!("{id}.{}", extension(m.document.content_type.as_deref()));
        stream_document(
            app.clone(),
            &m,
            &headers,
            Some(format!("attachment; filename=\"{name}\"")),
        )
    })
    .await
}

async fn archived(
    State(app): State<Shared>,
    Path(input): Path<String>,
    headers: HeaderMap,
) -> Response {
    blocking(move || {
        let id = match verified(&app, &input, |id| format!("/d/{id}")) {
            Ok(id) => id,
            Err(r) => return *r,
        };
        match app.archive.manifest(&id) {
            Ok(m) => stream_document(app.clone(), &m, &headers, None),
            Err(e) => error_page(&e, &input),
        }
    })
    .await
}

/// One part of a browser capture (its screenshot, PDF, DOM or a subresource body), by its
/// position in the record's parts list, served like the document: only once the record, every
/// part included, verifies, and only from the documents' origin.
async fn archived_part(
    State(app): State<Shared>,
    Path((input, n)): Path<(String, usize)>,
    headers: HeaderMap,
) -> Response {
    blocking(move || {
        let id = match verified(&app, &input, |id| format!("/d/{id}/part/{n}")) {
            Ok(id) => id,
            Err(r) => return *r,
        };
        let m = match app.archive.manifest(&id) {
            Ok(m) => m,
            Err(e) => return error_page(&e, &input),
        };
        let Some(part) = m.parts().into_iter().nth(n) else {
            return html_error(
                StatusCode::NOT_FOUND,
                &format!("record {id} has no part {n}"),
                Some("the record page lists its parts"),
            );
        };
        let media = m
            .browser
            .as_ref()
            .and_then(|b| b.attachments.iter().find(|a| a.sha256 == part.sha256))
            .map_or("application/octet-stream", |a| a.media_type.as_str())
            .to_string();
        stream_blob(app.clone(), &part.sha256, part.size, &media, &headers, None)
    })
    .await
}

/// A browser capture replayed from the archive alone, on an origin of its own
/// (`http://r-<id>.localhost:<documents port>/`, which browsers resolve to loopback): each path
/// is the page's own, mapped to the exchange the record holds for it and answered with its
/// recorded body; anything the record does not hold is a 404, never a live fetch, and the
/// policy (http::REPLAY_CSP) keeps the page from reaching any other origin. The record, every
/// part included, must verify first.
async fn replay(app: Shared, input: String, req: Request) -> Response {
    // The host names the record exactly: a mistyped ID is not resolved (a redirect would keep
    // the mistyped host and loop), it is not found.
    if input.parse::<RecordId>().map(|id| id.to_string()) != Ok(input.clone()) {
        return (StatusCode::NOT_FOUND, "no such record\n").into_response();
    }
    let target = req
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    let headers = req.headers().clone();
    blocking(move || {
        let id = match verified(&app, &input, |id| format!("/{id}")) {
            Ok(id) => id,
            Err(r) => return *r,
        };
        let m = match app.archive.manifest(&id) {
            Ok(m) => m,
            Err(e) => return error_page(&e, &input),
        };
        let Some(b) = &m.browser else {
            return html_error(
                StatusCode::NOT_FOUND,
                &format!("record {id} is not a browser capture; its document is at /d/{id}"),
                None,
            );
        };
        let Some(want) = url::Url::parse(&b.final_url)
            .ok()
            .and_then(|u| u.join(&target).ok())
        else {
            return (StatusCode::NOT_FOUND, "not found\n").into_response();
        };
        let same_path = |u: &str| {
            url::Url::parse(u).is_ok_and(|u| u.path() == want.path() && u.query() == want.query())
        };
        // The exchange for this URL on the page's own origin, else for this path on another
        // origin the page loaded from (a replay has one origin for all of them).
        let found = b
            .exchanges
            .iter()
            .filter(|e| e.response.is_some())
            .find(|e| e.url == want.as_str())
            .or_else(|| {
                b.exchanges
                    .iter()
                    .filter(|e| e.response.is_some())
                    .find(|e| same_path(&e.url))
            });
        let Some(r) = found.and_then(|e| e.response.as_ref()) else {
            return (
                StatusCode::NOT_FOUND,
                "not in this record (a replay never fetches from the live web)\n",
            )
                .into_response();
        };
        let content_type = r
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-type"))
            .and_then(|h| h.value.clone())
            .unwrap_or_else(|| "application/octet-stream".into());
        let mut resp = stream_blob(
            app.clone(),
            &r.body.sha256,
            r.body.size,
            &content_type,
            &headers,
            None,
        );
        if let Ok(status) = StatusCode::from_u16(r.status) {
            if resp.status() == StatusCode::OK {
                *resp.status_mut() = status;
            }
        }
        resp.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(http::REPLAY_CSP),
        );
        resp
    })
    .await
}

async fn wacz(State(app): State<Shared>, Path(input): Path<String>) -> Response {
    blocking(move || {
        let id = match verified(&app, &input, |id| format!("/r/{id}/export.wacz")) {
            Ok(id) => id,
            Err(r) => return *r,
        };
        // The export is written to a private temporary file and unlinked once open, so nothing
        // of it stays behind whatever the client does.
        let file = crate::core::interrupt::temp_dir(".exhibit-wacz-")
            .map_err(|e| Error::archive(format!("cannot make a temporary directory: {e}")))
            .and_then(|dir| {
                let path = dir.path().join("export.wacz");
                crate::formats::export::export_wacz(&app.archive, &[id], &path)?;
                std::fs::File::open(&path)
                    .map_err(|e| Error::archive(format!("cannot open the export: {e}")))
            });
        let mut file = match file {
            Ok(f) => f,
            Err(e) => return error_page(&e, &input),
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter::new(tx);
            match std::io::copy(&mut file, &mut w) {
                Ok(_) => w.finish(),
                Err(e) => w.fail(e.to_string()),
            }
        });
        let mut r = channel_body(rx).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/wacz"),
        );
        if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
            h.insert(header::CONTENT_LENGTH, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.wacz\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        no_cache(r)
    })
    .await
}

/// Change records of a URL shown with their diff on the history page itself; older ones are a
/// link away, so a long history costs two verifications per change only when asked.
const INLINE_DIFFS: usize = 3;

async fn history(State(app): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let Some(url) = query(q, "url") else {
        return html_error(
            StatusCode::BAD_REQUEST,
            "Give a URL: /u?url=https://…",
            None,
        );
    };
    blocking(move || {
        let snap = snapshot(&app);
        let url = match crate::history::target_url(&app.archive, &url) {
            Ok(u) => u,
            Err(e) => return error_page(&e, &url),
        };
        let index = match url_index(&app, &snap, &url) {
            Ok(i) => i,
            Err(e) => return error_page(&e, &url),
        };
        let h = crate::history::history(&index, &url, jiff::Timestamp::now());
        if h.versions.is_empty() {
            return html_error(
                StatusCode::NOT_FOUND,
                &format!(
                    "No record of {} in this archive.",
                    crate::terminal::shown(&url)
                ),
                Some("Check the URL; the overview page lists the latest records."),
            );
        }
        // "First tracked" and "Last verified" come from the records' manifests: each record is
        // verified first, as `exhibit history` does, so an altered date is never shown as one.
        for v in &h.versions {
            let failed = match v.record_id.parse::<RecordId>() {
                Ok(id) => match verdict(&app, &snap, &id) {
                    Ok(verdict) if verdict.report.ok => None,
                    Ok(verdict) => Some(verdict.report.failed_checks()),
                    Err(e) => Some(e.to_string()),
                },
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = failed {
                return html_error(
                    StatusCode::CONFLICT,
                    &format!(
                        "Record {} of this URL does not verify, so its history is not shown: {why}",
                        v.record_id
                    ),
                    Some("Open the record's page for every check; `exhibit audit` checks the whole archive."),
                );
            }
        }
        let mut changes = Vec::new();
        let mut last_doc: Option<&crate::history::Version> = None;
        for v in &h.versions {
            if let Some(prev) = last_doc {
                if v.sha256 != prev.sha256 {
                    changes.push(pages::ChangeLink {
                        old: prev.record_id.clone(),
                        new: v.record_id.clone(),
                        at: v.captured_at.clone(),
                        kind: v.change,
                    });
                }
            }
            last_doc = Some(v);
        }
        let inline: Vec<_> = changes
            .iter()
            .rev()
            .take(INLINE_DIFFS)
            .map(|c| match diff_of(&app, &snap, &c.old, &c.new) {
                Ok((d, old, new)) => (
                    pages::side_by_side(
                        &d,
                        &pages::Side { manifest: &old },
                        &pages::Side { manifest: &new },
                    ),
                    c,
                ),
                Err((_, msg)) => (maud::html! { p.error { (msg) } }, c),
            })
            .collect();
        html(StatusCode::OK, pages::history(&h, &changes, &inline))
    })
    .await
}

/// The index of one URL's records within the snapshot: the URL map brought up to the snapshot's
/// size (reading only manifests it has not seen), then that URL's manifests.
fn url_index(app: &App, snap: &Snapshot, url: &str) -> Result<crate::history::UrlIndex, Error> {
    let ids = {
        let mut map = app.urls.lock().unwrap_or_else(|e| e.into_inner());
        if map.size < snap.size {
            use rayon::prelude::*;
            // The first visit reads every manifest once (in parallel, as `history` does).
            let leaves = app.archive.read_leaves(map.size, snap.size)?;
            let added: Vec<(String, Option<String>, RecordId)> = leaves
                .par_iter()
                .map(|leaf| {
                    let m = app.archive.manifest(&leaf.record_id)?;
                    let other = (m.final_url != m.requested_url).then_some(m.final_url);
                    Ok((m.requested_url, other, leaf.record_id))
                })
                .collect::<Result<_, Error>>()?;
            for (requested, other, id) in added {
                map.by_url.entry(requested).or_default().push(id);
                if let Some(u) = other {
                    map.by_url.entry(u).or_default().push(id);
                }
            }
            map.size = snap.size;
        }
        map.by_url.get(url).cloned().unwrap_or_default()
    };
    let mut manifests = Vec::with_capacity(ids.len());
    for id in ids {
        let m = app.archive.manifest(&id)?;
        // Another request may have brought the map past this request's checkpoint.
        if m.log_index < snap.size {
            manifests.push(m);
        }
    }
    Ok(crate::history::UrlIndex::from_manifests(manifests))
}

type DiffOf = (crate::diff::Diff, Manifest, Manifest);

/// The diff of two records' readable texts, each verified first; a record that does not verify
/// is not compared.
fn diff_of(
    app: &App,
    snap: &Snapshot,
    old: &str,
    new: &str,
) -> Result<DiffOf, (StatusCode, String)> {
    let text = |input: &str| -> Result<(Manifest, String), (StatusCode, String)> {
        let id = resolve(app, snap, input).map_err(|e| {
            let (m, _) = http::public_message(&e, input);
            (http::status_of(&e), m)
        })?;
        let m = app
            .archive
            .manifest(&id)
            .map_err(|e| (http::status_of(&e), http::public_message(&e, input).0))?;
        if m.document.size > crate::text::TEXT_LIMIT {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("record {id} is too large to compare"),
            ));
        }
        // The bytes count only once the report says the record verifies.
        let mut bytes = Vec::new();
        check_record(&app.archive, &snap.log, &id.to_string(), &mut bytes)
            .ok()
            .flatten()
            .filter(|r| r.ok)
            .ok_or_else(|| {
                (
                    StatusCode::CONFLICT,
                    format!("record {id} does not verify, so it is not compared"),
                )
            })?;
        let t =
            crate::text::extract(m.document.content_type.as_deref(), &bytes).ok_or_else(|| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("record {id} is not a text document"),
                )
            })?;
        Ok((m, t))
    };
    let (om, ot) = text(old)?;
    let (nm, nt) = text(new)?;
    Ok((crate::diff::diff(&ot, &nt), om, nm))
}

async fn change(State(app): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let (Some(old), Some(new)) = (query(q.clone(), "old"), query(q, "new")) else {
        return html_error(
            StatusCode::BAD_REQUEST,
            "Give two records: /c?old=RECORD-ID&new=RECORD-ID",
            None,
        );
    };
    blocking(move || {
        let snap = snapshot(&app);
        match diff_of(&app, &snap, &old, &new) {
            Ok((d, om, nm)) => html(
                StatusCode::OK,
                pages::change(
                    &d,
                    &pages::Side { manifest: &om },
                    &pages::Side { manifest: &nm },
                ),
            ),
            Err((status, msg)) => html_error(status, &msg, None),
        }
    })
    .await
}

async fn api_record(
    State(app): State<Shared>,
    Path(input): Path<String>,
    headers: HeaderMap,
) -> Response {
    blocking(move || {
        let snap = snapshot(&app);
        let id = match resolve(&app, &snap, &input) {
            Ok(x) => x,
            Err(e) => return json_error(&e, &input),
        };
        let report = match check_record(
            &app.archive,
            &snap.log,
            &id.to_string(),
            &mut std::io::sink(),
        ) {
            Ok(Some(r)) => r,
            Ok(None) => return json_error(&Error::not_found("no such record"), &input),
            Err(e) => return json_error(&e, &input),
        };
        // The same object as `exhibit show --json`.
        let m = app.archive.manifest(&id).ok();
        let v = verify::record_json(m.as_ref(), &id.to_string(), &report);
        with_etag(&headers, "application/json", json_body(&v))
    })
    .await
}

async fn api_verify(
    State(app): State<Shared>,
    Path(input): Path<String>,
    headers: HeaderMap,
) -> Response {
    blocking(move || {
        let snap = snapshot(&app);
        match verify::verify_json(&app.archive, &snap.log, std::slice::from_ref(&input)) {
            Ok((code, v)) => {
                // A report is 200 whether or not the record verifies; a target that names no
                // record is the client's error, as its exit code says.
                let status =
                    if code == Kind::Usage.exit_code() || code == Kind::Ambiguous.exit_code() {
                        StatusCode::BAD_REQUEST
                    } else if code == Kind::NotFound.exit_code() {
                        StatusCode::NOT_FOUND
                    } else {
                        StatusCode::OK
                    };
                let mut body = serde_json::to_vec(&v).unwrap_or_default();
                body.push(b'\n');
                let mut r = with_etag(&headers, "application/json", body);
                if r.status() == StatusCode::OK {
                    *r.status_mut() = status;
                }
                r
            }
            Err(e) => json_error(&e, &input),
        }
    })
    .await
}

async fn api_proof(
    State(app): State<Shared>,
    Path(input): Path<String>,
    headers: HeaderMap,
) -> Response {
    blocking(move || {
        let snap = snapshot(&app);
        let id = match resolve(&app, &snap, &input) {
            Ok(x) => x,
            Err(e) => return json_error(&e, &input),
        };
        let (Some(text), Some(cp)) = (&snap.log.text, &snap.log.checkpoint) else {
            return json_error(&Error::not_found("no checkpoint"), &input);
        };
        match verify::inclusion_proof(&app.archive, &id, text, cp) {
            Ok(p) => with_etag(&headers, "application/json", json_body(&p)),
            Err(e) => json_error(&e, &input),
        }
    })
    .await
}

/// A 503 that no cache keeps: the condition is expected to be repaired.
fn unavailable(why: &'static str) -> Response {
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The log as C2SP tlog-tiles next to `/checkpoint`, so any tlog client proves inclusion and
/// consistency against the signed checkpoint without exhibit. Only tiles of the tree the
/// checkpoint signs are served; a tile never changes, so it is cached for good.
async fn tile(State(app): State<Shared>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    blocking(move || {
        let Some(tile) = crate::log::tiles::Tile::parse(&format!("tile/{path}")) else {
            return (StatusCode::NOT_FOUND, "not a tile of this log\n").into_response();
        };
        let snap = snapshot(&app);
        let (Some(cp), None, Ok(_)) = (&snap.log.checkpoint, &snap.log.problem, &snap.log.trust)
        else {
            return unavailable("the archive's checkpoint does not verify; run `exhibit audit`");
        };
        {
            let mut checked = app.tiles_checked.lock().unwrap_or_else(|p| p.into_inner());
            if *checked < cp.size {
                if let Err(e) = app.archive.check_stored_hashes(cp.size, &cp.root) {
                    eprintln!("exhibit serve: tiles withheld: {e}");
                    return unavailable(
                        "the log's stored hashes do not give the signed root; run `exhibit audit`",
                    );
                }
                *checked = cp.size;
            }
        }
        match app.archive.tile(&tile, cp.size) {
            Ok(Some(bytes)) => {
                let mut r = with_etag(&headers, "application/octet-stream", bytes);
                r.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                );
                r
            }
            Ok(None) => (
                StatusCode::NOT_FOUND,
                "the signed tree does not hold this tile yet\n",
            )
                .into_response(),
            Err(e) => error_page(&e, ""),
        }
    })
    .await
}

async fn checkpoint(State(app): State<Shared>, headers: HeaderMap) -> Response {
    blocking(move || {
        // The note as stored, signatures and all: a witness checks it with the archive's key.
        match app.archive.checkpoint() {
            Ok(Some((text, _))) => {
                with_etag(&headers, "text/plain; charset=utf-8", text.into_bytes())
            }
            Ok(None) => {
                (StatusCode::NOT_FOUND, "the archive has no checkpoint yet\n").into_response()
            }
            Err(e) => error_page(&e, ""),
        }
    })
    .await
}
