//! The HTTP side of the viewer: headers every response carries, ETags, errors as status codes,
//! and documents streamed from the store.

use crate::error::{Error, Kind};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The viewer's own pages: no script at all, styles only from its stylesheet, frames only from
/// the documents' origin, and no page may frame the viewer (clickjacking).
pub fn viewer_csp(documents_origin: &str) -> String {
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self' {documents_origin}; \
         script-src 'self'; form-action 'self'; frame-src {documents_origin}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// An archived document: `sandbox` without `allow-scripts` and `allow-same-origin` gives it an
/// opaque origin with scripts, forms, popups and top navigation disabled; `default-src 'none'`
/// keeps it from loading anything, so nothing is ever fetched from the live web for it.
pub const DOCUMENT_CSP: &str = "sandbox; default-src 'none'; img-src data:; \
    style-src 'unsafe-inline'; font-src data:; media-src data:; base-uri 'none'; form-action 'none'";

/// A replayed page (a browser capture, served from its own origin `r-<id>.localhost`): its
/// scripts run, but everything it loads or connects to must come from that origin, which serves
/// only what the record holds, so nothing is fetched from the live web.
pub const REPLAY_CSP: &str = "default-src 'self' data: blob:; script-src 'self' 'unsafe-inline' \
    'unsafe-eval'; style-src 'self' 'unsafe-inline'; connect-src 'self'; base-uri 'self'; \
    form-action 'none'; frame-ancestors 'none'";

/// The record a replay host names: `r-ex-xxxx-xxxx-xxxx.localhost[:port]`.
pub fn replay_record(host: &str) -> Option<String> {
    let name = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let label = name.strip_suffix(".localhost")?.strip_prefix("r-")?;
    let id = label.to_ascii_uppercase();
    (id.len() == 17 && id.starts_with("EX-")).then_some(id)
}

pub fn common_headers(h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// A response that must be revalidated on every use: a verdict is only as old as the request.
pub fn no_cache(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `body` with a strong ETag (its SHA-256); 304 without a body when the client has it already.
pub fn with_etag(req: &HeaderMap, content_type: &'static str, body: Vec<u8>) -> Response {
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
    etag_response(req, &etag, content_type, Body::from(body))
}

pub fn etag_response(req: &HeaderMap, etag: &str, content_type: &str, body: Body) -> Response {
    let tag = HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let mut r = if if_none_match(req, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
        );
        r
    };
    r.headers_mut().insert(header::ETAG, tag);
    no_cache(r)
}

fn if_none_match(req: &HeaderMap, etag: &str) -> bool {
    etag_listed(
        req.get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        etag,
    )
}

/// Whether `If-None-Match` header values name `etag` (RFC 9110 13.1.2: a list of entity tags or
/// `*`, compared weakly).
pub fn etag_listed<'a>(values: impl Iterator<Item = &'a str>, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    values
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

/// The host name or address of a `Host` header, without its port, when it is a plain name or
/// address (letters, digits, `-`, `.`, or an IPv6 literal in brackets); `None` otherwise. The
/// viewer builds the documents' origin from it, so nothing else may pass.
pub fn host_of(h: &str) -> Option<String> {
    let host = if h.starts_with('[') {
        let inner = &h[..=h.find(']')?];
        if inner.len() < 3
            || !inner[1..inner.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        inner
    } else {
        let name = h.split(':').next()?;
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return None;
        }
        name
    };
    (!host.is_empty() && host.len() <= 253).then(|| host.to_ascii_lowercase())
}

/// Whether a request's `Host` header names this listener: DNS rebinding points a name the
/// attacker controls at 127.0.0.1, and the browser then lets the attacker's page read the
/// viewer as same-origin. The name must be one that no outside DNS answer can bring here
/// (`localhost`, `127.0.0.1`, `[::1]`; on the documents' listener also the replay origins
/// `*.localhost`, which browsers resolve to loopback themselves), the address the listener is
/// bound to, any IP address when it is bound to all of them (rebinding needs a name), or a name
/// the operator allowed; and the port must be the listener's own (none given: 80).
pub fn host_allowed(
    header: Option<&str>,
    bound: std::net::SocketAddr,
    allowed: &[String],
    replay_names: bool,
) -> bool {
    let Some(h) = header else {
        return false;
    };
    let Some(name) = host_of(h) else {
        return false;
    };
    // host_of keeps only ASCII, so the name's length is its length in the header.
    let port = match &h[name.len()..] {
        "" => Some(80),
        rest => rest.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()),
    };
    if port != Some(bound.port()) {
        return false;
    }
    let literal = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .ok();
    let loopback = matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]");
    let replay = replay_names && name.ends_with(".localhost");
    let bound_ip = bound.ip();
    let own_address = match literal {
        Some(ip) => ip == bound_ip || bound_ip.is_unspecified(),
        None => false,
    };
    loopback || replay || own_address || allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
}

/// The answer to a request for a host this server does not serve: short, plain, not echoing it.
pub fn misdirected() -> Response {
    let mut r = (
        StatusCode::MISDIRECTED_REQUEST,
        "misdirected request: this server does not answer to that host name \
         (see --allow-host in `exhibit serve --help`)\n",
    )
        .into_response();
    common_headers(r.headers_mut());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    no_cache(r)
}

/// The status code of a library error met while answering a request.
pub fn status_of(e: &Error) -> StatusCode {
    match e.kind {
        Kind::Usage | Kind::Ambiguous => StatusCode::BAD_REQUEST,
        Kind::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What a web client is told about an error: the message and hint of a bad request (they echo
/// only the input), but never a server path; anything else is logged and named in general.
pub fn public_message(e: &Error, input: &str) -> (String, Option<String>) {
    match e.kind {
        Kind::Usage | Kind::Ambiguous => (e.what.clone(), e.hint.clone()),
        Kind::NotFound => (
            format!(
                "Nothing in this archive matches {}.",
                crate::terminal::shown(input)
            ),
            Some("Check the record ID or hash against the citation.".into()),
        ),
        // Damage found on the way to an answer (an index that disagrees with the signed log): a
        // reader must hear that the archive failed, never that nothing matched.
        Kind::Verification => {
            eprintln!("exhibit serve: {}", e.what);
            (
                "This archive failed verification, so this lookup cannot be answered.".into(),
                Some("The server's log says why; `exhibit audit` checks the archive.".into()),
            )
        }
        _ => {
            eprintln!("exhibit serve: {}", e.what);
            (
                "The archive could not be read for this request.".into(),
                Some("The server's log says why; `exhibit audit` checks the archive.".into()),
            )
        }
    }
}

/// A writer that hands what it is given to an async body, chunk by chunk, with backpressure: a
/// document is read from the store only as fast as the client takes it. The last chunk is held
/// back until [`ChannelWriter::finish`]: the store checks a document's hash only at its end, and
/// a client must never receive every byte of a document that then fails that check.
pub struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    held: Option<bytes::Bytes>,
}

impl ChannelWriter {
    pub fn new(tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>) -> Self {
        ChannelWriter { tx, held: None }
    }

    fn send(&self, item: Result<bytes::Bytes, std::io::Error>) -> std::io::Result<()> {
        self.tx
            .blocking_send(item)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }

    /// The whole document was read and checked: release the last chunk.
    pub fn finish(mut self) {
        if let Some(b) = self.held.take() {
            let _ = self.send(Ok(b));
        }
    }

    /// Reading failed: the response ends without its last chunk.
    pub fn fail(mut self, why: String) {
        self.held = None;
        let _ = self.send(Err(std::io::Error::other(why)));
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(prev) = self.held.replace(bytes::Bytes::copy_from_slice(buf)) {
            self.send(Ok(prev))?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A body fed by a [`ChannelWriter`]: an `Err` ends the response early, so a client never takes
/// a truncated or altered document for a whole one.
pub fn channel_body(rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>) -> Body {
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_keeps_only_bare_names_and_addresses() {
        assert_eq!(host_of("127.0.0.1:8080").as_deref(), Some("127.0.0.1"));
        assert_eq!(
            host_of("Archive.Example").as_deref(),
            Some("archive.example")
        );
        assert_eq!(host_of("[::1]:8080").as_deref(), Some("[::1]"));
        for bad in [
            "",
            "[]",
            "[::1",
            "evil.example/x",
            "a@b",
            "a b",
            "x\"y",
            "[::1\"]",
            "é.example",
        ] {
            assert_eq!(host_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_local_bound_or_allowed_hosts_with_the_port_pass() {
        let lo: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let allowed = vec!["archive.example".to_string()];
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LocalHost:8080",
            "[::1]:8080",
            "archive.example:8080",
        ] {
            assert!(host_allowed(Some(ok), lo, &allowed, false), "{ok}");
        }
        for bad in [
            "attacker.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "localhost:8080x",
            "r-ex-aaaa-bbbb-cccc.localhost:8080",
            "10.0.0.1:8080",
            "",
        ] {
            assert!(!host_allowed(Some(bad), lo, &allowed, false), "{bad}");
        }
        assert!(!host_allowed(None, lo, &allowed, false));
        assert!(host_allowed(
            Some("r-ex-aaaa-bbbb-cccc.localhost:8080"),
            lo,
            &[],
            true
        ));
        let any: std::net::SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert!(host_allowed(Some("192.168.1.5"), any, &[], false));
        assert!(!host_allowed(Some("evil.example"), any, &[], false));
    }

    #[test]
    fn if_none_match_lists_are_compared_weakly() {
        let e = "\"abc\"";
        assert!(etag_listed(["\"abc\""].into_iter(), e));
        assert!(etag_listed(["\"x\", W/\"abc\""].into_iter(), e));
        assert!(etag_listed(["*"].into_iter(), e));
        assert!(!etag_listed(["\"abcd\""].into_iter(), e));
        assert!(!etag_listed(std::iter::empty(), e));
    }
}
