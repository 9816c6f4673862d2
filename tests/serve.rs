//! `exhibit serve` through the real binary on loopback: pages verified live, the JSON API equal
//! to the command line's, caching headers, bad input answered with a clean 4xx, slow clients
//! bounded, and archived script kept away from the viewer (in a real headless Chromium; with
//! `EXHIBIT_SKIP_BROWSER=1` those tests are skipped with a loud message, as in browser.rs).

mod common;

use common::Env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `exhibit serve`, killed on drop; its stderr (the access log) is collected.
struct Server {
    child: Child,
    viewer: SocketAddr,
    documents: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(env: &Env, extra: &[&str]) -> Server {
        let mut args = vec!["--bind", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Server::start_with(env, &args)
    }

    fn start_with(env: &Env, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--access-log"];
        args.extend_from_slice(extra);
        let mut child = env
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // "exhibit serve: viewer at http://A/ (archived documents at http://B/)"
        let addrs: Vec<SocketAddr> = first
            .split("http://")
            .skip(1)
            .map(|s| s.split('/').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(addrs.len(), 2, "first line: {first:?}");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Server {
            child,
            viewer: addrs[0],
            documents: addrs[1],
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.viewer)
    }

    fn doc_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.documents)
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = client().get(url).send().unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().unwrap())
}

/// Import `html` as a record of `url`; returns (record ID, SHA-256).
fn import(env: &Env, name: &str, html: &str, url: &str) -> (String, String) {
    let path = env.dir.path().join(name);
    std::fs::write(&path, html).unwrap();
    let out = env.ok(&[
        "import",
        path.to_str().unwrap(),
        "--url",
        url,
        "--entity",
        "Coursera",
        "--document",
        "Terms of Service",
        "--content-type",
        "text/html; charset=utf-8",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    (
        v["record_id"].as_str().unwrap().to_string(),
        v["sha256"].as_str().unwrap().to_string(),
    )
}

const TERMS: &str = "<!DOCTYPE html><html><head><title>Terms</title></head><body>\
    <h1>Terms of Service</h1><p>You may use the platform for learning.</p>\
    <p>Managed service providers may not sublicense content.</p></body></html>";

/// The "Snapshot stored ✓ Hash verified ✓" line of a record page, tags removed.
fn marks(page: &str) -> String {
    let start = page.find("class=\"marks\"").expect("a status line");
    let end = start + page[start..].find("</p>").unwrap();
    let mut out = String::new();
    let mut in_tag = false;
    for c in page[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim_start_matches(|c| c != 'S').to_string()
}

#[test]
fn a_record_page_shows_both_checks_live_and_a_cross_once_a_byte_is_flipped() {
    let env = Env::new();
    let (id, sha) = import(&env, "terms.html", TERMS, "https://example.org/terms");
    let server = Server::start(&env, &[]);
    let (status, headers, page) = get(&server.url(&format!("/r/{id}")));
    assert_eq!(status, 200, "{page}");
    assert_eq!(marks(&page), "Snapshot stored ✓Hash verified ✓");
    assert!(page.contains(&sha), "the SHA-256 is on the page");
    assert!(page.contains("Coursera") && page.contains("Terms of Service"));
    assert!(page.contains("Record ID") && page.contains("Log index"));
    assert!(page.contains("@misc{"), "BibTeX citation");
    assert!(page.contains("\"type\": \"webpage\"") || page.contains("&quot;type&quot;"));
    // The viewer's one script is its own file, which only shows the citations' copy buttons
    // (hidden without it); no inline script runs.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(page.contains(r#"<script src="/copy.js" defer>"#), "{page}");
    assert!(page.contains("data-copy=\"cite-0\" hidden"), "{page}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let (status, headers_js, js) = get(&server.url("/copy.js"));
    assert_eq!(status, 200);
    assert!(headers_js["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(js.contains("navigator.clipboard.writeText"), "{js}");
    // The document, from the documents' origin, sandboxed.
    let (status, headers, body) = get(&server.doc_url(&format!("/d/{id}")));
    assert_eq!(status, 200);
    assert_eq!(body, TERMS);
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("sandbox;"), "{csp}");
    assert!(!csp.contains("allow-same-origin") && !csp.contains("allow-scripts"));
    // Each origin answers only its own addresses.
    assert_eq!(get(&server.doc_url(&format!("/api/records/{id}"))).0, 404);
    assert_eq!(get(&server.doc_url(&format!("/r/{id}"))).0, 404);
    assert_eq!(get(&server.url(&format!("/d/{id}"))).0, 404);
    let (status, headers, body) = get(&server.url(&format!("/r/{id}/document")));
    assert_eq!(status, 200);
    assert_eq!(body, TERMS);
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));

    // One byte of the stored document flipped on disk: the same page, served again, says so.
    flip_one_byte(&env, &sha);
    let (status, _, page) = get(&server.url(&format!("/r/{id}")));
    assert_eq!(status, 200);
    assert_eq!(marks(&page), "Snapshot stored ✓Hash verified ✗");
    assert!(page.contains("This record does NOT verify"), "{page}");
    assert!(
        page.contains("no longer match the SHA-256 fingerprint"),
        "the reason in plain words: {page}"
    );
    assert!(
        !page.contains("@misc{"),
        "a failing record is not offered for citation"
    );
    assert!(
        !page.contains(env.archive.to_str().unwrap()),
        "no server path on the page"
    );
    // Its document is no longer served, from either origin.
    assert_eq!(get(&server.doc_url(&format!("/d/{id}"))).0, 409);
    assert_eq!(get(&server.url(&format!("/r/{id}/document"))).0, 409);
}

/// Send raw bytes, read the status code of the answer (None: the connection closed first).
fn raw_status(addr: SocketAddr, request: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // A server may answer before it has read everything and close: ignore a broken pipe.
    let _ = s.write_all(request);
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 12 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&got);
    line.split(' ').nth(1).and_then(|c| c.parse().ok())
}

#[test]
fn bad_input_gets_a_clean_4xx_and_the_server_stays_up() {
    let env = Env::new();
    let (id, _) = import(&env, "terms.html", TERMS, "https://example.org/terms");
    let mut server = Server::start(&env, &[]);
    // The last symbol is the check character: change it.
    let last = id.chars().last().unwrap();
    let mistyped = format!(
        "{}{}",
        &id[..id.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    let cases: Vec<(String, u16, Option<&str>)> = vec![
        (
            "/r/EX-0000-0000-0000".into(),
            404,
            Some("Nothing in this archive"),
        ),
        (format!("/r/{mistyped}"), 400, Some("check character")),
        (
            format!("/api/records/{mistyped}"),
            400,
            Some("check character"),
        ),
        (
            format!("/api/verify/{mistyped}"),
            400,
            Some("check character"),
        ),
        ("/api/proof/EX-0000-0000-0000".into(), 404, None),
        ("/r/..%2F..%2Fetc%2Fpasswd".into(), 400, None),
        ("/u?url=file%3A%2F%2F%2Fetc%2Fpasswd".into(), 400, None),
        ("/u?url=https%3A%2F%2Fnever.example%2F".into(), 404, None),
        ("/c?old=x&new=y".into(), 400, None),
        ("/nothing/here".into(), 404, None),
        ("/r/%FF%FE".into(), 400, None),
        (format!("/r/{}", "A".repeat(8000)), 400, None),
        ("/u?url=%FF%FE".into(), 400, None),
        ("/search?q=%E2%80%AE".into(), 400, None),
    ];
    for (path, want, needle) in &cases {
        let (status, _, body) = get(&server.url(path));
        assert_eq!(status, *want, "{path}: {body}");
        if let Some(n) = needle {
            assert!(body.contains(n), "{path}: {body}");
        }
        assert!(
            !body.contains(env.archive.to_str().unwrap()),
            "{path}: {body}"
        );
    }
    // Paths that a client library would normalise, sent as they are (to a host the server
    // answers to, so that it is the path that is refused).
    for path in [
        "/../../etc/passwd",
        "/r/../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
    ] {
        for (addr, which) in [(server.viewer, "viewer"), (server.documents, "documents")] {
            let raw = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            let s = raw_status(addr, raw.as_bytes()).unwrap();
            assert!(
                (400..500).contains(&s) && s != 421,
                "{raw:?} ({which}): {s}"
            );
        }
    }
    // Only reading is routed.
    let r = client()
        .post(server.url(&format!("/r/{id}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    // A 1 MB query string.
    let mut huge = b"GET /u?url=".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    huge.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = raw_status(server.viewer, &huge).expect("an answer, not a dropped connection");
    assert!((400..500).contains(&s), "1 MB query: {s}");
    // Not HTTP at all.
    let s = raw_status(
        server.viewer,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    );
    assert!(s.is_none_or(|s| (400..500).contains(&s)), "{s:?}");
    assert!(server.alive());
    assert_eq!(get(&server.url(&format!("/r/{id}"))).0, 200);
}

/// A URL with a password pasted into the viewer's API, pages or address bar is refused as the
/// command line refuses it (400), and neither the answer nor the access log repeats the
/// password, however the URL was encoded.
#[test]
fn a_pasted_url_with_credentials_is_refused_and_never_echoed() {
    const SECRET: &str = "hunter2Secret";
    let env = Env::new();
    let (id, _) = import(&env, "terms.html", TERMS, "https://example.org/terms");
    let server = Server::start(&env, &[]);
    for path in [
        format!("/api/verify/https:%2F%2Falice:{SECRET}@example.com%2F"),
        format!("/api/verify/https:%2F%2Falice:{SECRET}%40example.com%2F"),
        format!("/api/records/https:%2F%2Falice:{SECRET}@example.com%2F"),
        format!("/api/proof/https:%2F%2Falice:{SECRET}@example.com%2F"),
        format!("/r/https:%2F%2Falice:{SECRET}@example.com%2F"),
        format!("/u?url=https%3A%2F%2Falice%3A{SECRET}%40example.com%2F"),
    ] {
        let (status, _, body) = get(&server.url(&path));
        assert_eq!(status, 400, "{path}: {body}");
        assert!(!body.contains(SECRET), "{path}: {body}");
        assert!(body.contains("user name or password"), "{path}: {body}");
    }
    // The record itself still answers; then the log has every request, and no password.
    assert_eq!(get(&server.url(&format!("/api/verify/{id}"))).0, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = server.log.lock().unwrap().join("\n");
        if log.contains(&format!("/api/verify/{id}")) || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(log.contains(&format!("/api/verify/{id}")), "{log}");
    assert!(!log.contains(SECRET), "{log}");
}

#[test]
fn the_api_answers_what_the_command_line_does_with_etags() {
    let env = Env::new();
    let (id, sha) = import(&env, "terms.html", TERMS, "https://example.org/terms");
    let server = Server::start(&env, &[]);
    let json = |s: &str| -> serde_json::Value { serde_json::from_str(s).unwrap() };
    // /api/verify is `exhibit verify --json`, for an ID and for a hash prefix.
    for target in [id.as_str(), &sha[..16]] {
        let (status, _, body) = get(&server.url(&format!("/api/verify/{target}")));
        assert_eq!(status, 200);
        assert_eq!(json(&body), json(&env.ok(&["verify", target, "--json"])));
    }
    let (status, _, body) = get(&server.url(&format!("/api/proof/{id}")));
    assert_eq!(status, 200);
    assert_eq!(json(&body), json(&env.ok(&["prove", &id, "--json"])));
    let (status, _, body) = get(&server.url(&format!("/api/records/{id}")));
    assert_eq!(status, 200);
    let v = json(&body);
    assert_eq!(v["verification"]["ok"], true);
    assert_eq!(v["document"]["sha256"], sha.as_str());

    for path in ["/checkpoint".to_string(), format!("/api/records/{id}")] {
        let r = client().get(server.url(&path)).send().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-cache", "{path}");
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        if path == "/checkpoint" {
            assert!(r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"));
            let text = r.text().unwrap();
            assert_eq!(
                text,
                std::fs::read_to_string(env.archive.join("log").join("checkpoint")).unwrap()
            );
        }
        let again = client()
            .get(server.url(&path))
            .header("If-None-Match", &etag)
            .send()
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert!(again.bytes().unwrap().is_empty());
        let other = client()
            .get(server.url(&path))
            .header("If-None-Match", "\"something-else\"")
            .send()
            .unwrap();
        assert_eq!(other.status(), 200, "{path}");
    }
    // A new record changes the checkpoint, so its old ETag no longer matches.
    let r = client().get(server.url("/checkpoint")).send().unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    import(&env, "two.html", "<p>two</p>", "https://example.org/two");
    let again = client()
        .get(server.url("/checkpoint"))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 200);
}

#[test]
fn history_lists_versions_and_shows_the_change_side_by_side() {
    let env = Env::new();
    let url = "https://example.org/terms";
    let (old, _) = import(&env, "v1.html", TERMS, url);
    let changed = TERMS.replace("may not sublicense", "may never sublicense or resell");
    let (new, _) = import(&env, "v2.html", &changed, url);
    let server = Server::start(&env, &[]);
    let (status, _, page) = get(&server.url("/u?url=https%3A%2F%2Fexample.org%2Fterms"));
    assert_eq!(status, 200, "{page}");
    for needle in [
        "First tracked",
        "Last verified",
        &old,
        &new,
        "View change record",
    ] {
        assert!(page.contains(needle), "{needle}: {page}");
    }
    assert!(
        page.contains("<del>not</del>") && page.contains("<ins>never</ins>"),
        "{page}"
    );
    let (status, _, page) = get(&server.url(&format!("/c?old={old}&new={new}")));
    assert_eq!(status, 200);
    assert!(page.contains("class=\"diff\""));
    // The overview finds both, and its search goes to the record.
    let (status, _, page) = get(&server.url("/"));
    assert_eq!(status, 200);
    assert!(page.contains(&old) && page.contains(&new));
    let r = client()
        .get(server.url(&format!("/search?q={}", new.to_lowercase())))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/r/{new}").as_str());
}

#[test]
fn slow_clients_are_cut_off_and_do_not_starve_others() {
    let env = Env::new();
    let (id, _) = import(&env, "terms.html", TERMS, "https://example.org/terms");
    let mut server = Server::start(&env, &["--max-connections", "16", "--header-timeout", "1"]);
    // A hundred clients that connect and never finish a request head (slowloris): half send
    // part of one, half nothing at all.
    let mut slow: Vec<TcpStream> = (0..100)
        .map(|i| {
            let mut s = TcpStream::connect(server.viewer).unwrap();
            if i % 2 == 0 {
                let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            }
            s
        })
        .collect();
    let t = Instant::now();
    let (status, _, _) = get(&server.url(&format!("/r/{id}")));
    assert_eq!(status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "a real request waited {:?} behind slow clients",
        t.elapsed()
    );
    // Each slow client was answered (408) or dropped within its bound.
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut buf = Vec::new();
        match s.read_to_end(&mut buf) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("a slow client's connection stayed open: {e}"),
        }
    }
    assert!(server.alive());
}

#[test]
fn two_thousand_idle_connections_are_shed_and_the_server_stays_up() {
    let env = Env::new();
    let (id, _) = import(&env, "terms.html", TERMS, "https://example.org/terms");
    let mut server = Server::start(
        &env,
        &["--max-connections", "1024", "--header-timeout", "2"],
    );
    let idle: Vec<TcpStream> = (0..2000)
        .map(|_| TcpStream::connect(server.viewer).unwrap())
        .collect();
    let t = Instant::now();
    let (status, _, page) = get(&server.url(&format!("/r/{id}")));
    assert_eq!(status, 200);
    assert_eq!(marks(&page), "Snapshot stored ✓Hash verified ✓");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "a real request waited {:?} behind 2,000 idle connections",
        t.elapsed()
    );
    drop(idle);
    assert!(server.alive());
    assert_eq!(get(&server.url("/")).0, 200);
}

fn flip_one_byte(env: &Env, sha: &str) {
    let blob = env
        .archive
        .join("documents")
        .join(&sha[..2])
        .join(format!("{sha}.zst"));
    let mut perms = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&blob, perms).unwrap();
    let mut b = std::fs::read(&blob).unwrap();
    b[12] ^= 0x20;
    std::fs::write(&blob, b).unwrap();
}

#[test]
fn pages_stay_consistent_while_another_process_commits() {
    let env = Env::new();
    let (id, _) = import(&env, "terms.html", TERMS, "https://example.org/terms");
    let server = Server::start(&env, &[]);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for i in 0..12 {
                import(
                    &env,
                    &format!("p{i}.html"),
                    &format!("<p>page {i}</p>"),
                    &format!("https://example.org/p{i}"),
                );
            }
        });
        let mut served = 0;
        while !writer.is_finished() || served < 10 {
            let (status, _, page) = get(&server.url(&format!("/r/{id}")));
            assert_eq!(status, 200, "{page}");
            assert_eq!(marks(&page), "Snapshot stored ✓Hash verified ✓", "{page}");
            let (status, _, page) = get(&server.url("/"));
            assert_eq!(status, 200);
            assert!(
                page.contains("Checkpoint signature <span class=\"ok\""),
                "{page}"
            );
            let (status, _, body) = get(&server.url("/api/verify/EX-0000-0000-0000"));
            assert_eq!(status, 404, "{body}");
            served += 1;
        }
        writer.join().unwrap();
    });
    // Every record written meanwhile verifies on its page too.
    let leaves = std::fs::read_to_string(env.archive.join("log").join("leaves")).unwrap();
    for line in leaves.lines().skip(1) {
        let rid = line.split(' ').next().unwrap();
        let (status, _, page) = get(&server.url(&format!("/r/{rid}")));
        assert_eq!(status, 200);
        assert_eq!(marks(&page), "Snapshot stored ✓Hash verified ✓", "{rid}");
    }
}

#[test]
fn a_large_document_is_verified_once_per_checkpoint_and_the_page_says_so() {
    let env = Env::new();
    let (id, sha) = import(&env, "terms.html", TERMS, "https://example.org/terms");
    let server = Server::start(&env, &["--reverify-above", "100"]);
    let (_, _, first) = get(&server.url(&format!("/r/{id}")));
    assert!(first.contains("Verified just now"), "{first}");
    let (_, _, second) = get(&server.url(&format!("/r/{id}")));
    assert_eq!(marks(&second), "Snapshot stored ✓Hash verified ✓");
    assert!(
        second.contains("read in full once each time the archive changes"),
        "{second}"
    );
    flip_one_byte(&env, &sha);
    // Same checkpoint: the kept verdict stands, but the document itself is checked as it is
    // served and never arrives whole.
    let (_, _, page) = get(&server.url(&format!("/r/{id}")));
    assert_eq!(marks(&page), "Snapshot stored ✓Hash verified ✓");
    // (The damage may be found before the response head is written, or after: either way the
    // connection ends without a whole body.)
    let whole = client()
        .get(server.doc_url(&format!("/d/{id}")))
        .send()
        .and_then(|r| r.bytes());
    assert!(
        whole.map_or(true, |b| b != TERMS.as_bytes()),
        "a damaged document was served whole"
    );
    // The archive changes: the document is read again, and fails.
    import(&env, "two.html", "<p>two</p>", "https://example.org/two");
    let (_, _, page) = get(&server.url(&format!("/r/{id}")));
    assert_eq!(marks(&page), "Snapshot stored ✓Hash verified ✗", "{page}");
}

// ---------------------------------------------------------------------------------------------
// In a real browser.

fn skip_browser() -> bool {
    if std::env::var_os("EXHIBIT_SKIP_BROWSER").is_some_and(|v| v == "1") {
        let _ = std::io::stderr().write_all(
            b"\n!!! SKIPPED: EXHIBIT_SKIP_BROWSER=1, the viewer was NOT tested in a browser !!!\n\n",
        );
        return true;
    }
    false
}

fn chromium() -> String {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|c| c.to_string())
        .unwrap_or_else(|| {
            panic!(
                "no Chromium found (apt-get install --no-install-recommends chromium, \
                 or set EXHIBIT_SKIP_BROWSER=1 to skip the browser tests knowingly)"
            )
        })
}

/// Run headless Chromium with `args` and a URL, bounded in time; returns stdout.
fn headless(profile: &std::path::Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

const HOSTILE: &str = r#"<!DOCTYPE html><html><head><title>Hostile</title></head><body>
<p id="status">script did not run</p>
<script>
var s = document.getElementById('status');
s.textContent = 'script ran';
try { s.textContent += ' cookie=' + document.cookie; } catch (e) { s.textContent += ' cookie-blocked'; }
fetch('VIEWER/api/records/EXFILTRATE-FETCH').then(function (r) { return r.text(); })
  .then(function (t) { s.textContent += ' fetched=' + t.length; }, function () { s.textContent += ' fetch-blocked'; });
fetch('/api/records/EXFILTRATE-RELATIVE');
try { top.location = 'VIEWER/api/records/EXFILTRATE-TOP'; } catch (e) {}
</script></body></html>"#;

#[test]
fn archived_script_cannot_reach_the_viewer_in_a_real_browser() {
    if skip_browser() {
        return;
    }
    let env = Env::new();
    let (terms, _) = import(&env, "terms.html", TERMS, "https://example.org/terms");
    // The hostile page must name the viewer's address, which is only known once it runs: the
    // server starts first (on ports of its own) and the page is imported into the archive it
    // serves, which it reads live. (Learning a free port from a first server and binding it
    // again raced every other test taking ports meanwhile.)
    let server = Server::start(&env, &[]);
    let hostile = HOSTILE.replace("VIEWER", &format!("http://{}", server.viewer));
    let (id, _) = import(&env, "hostile.html", &hostile, "https://evil.example/");
    let profile = tempfile::tempdir().unwrap();

    // The archived page itself, opened directly on the documents' origin: its script never runs.
    let dom = headless(
        profile.path(),
        &["--dump-dom"],
        &server.doc_url(&format!("/d/{id}")),
    );
    // (The script's own text is in the DOM too: look at the element it would have changed.)
    assert!(
        dom.contains("<p id=\"status\">script did not run</p>"),
        "{dom}"
    );

    // The record page that frames it: still the record page afterwards (no top navigation).
    let dom = headless(
        profile.path(),
        &["--dump-dom"],
        &server.url(&format!("/r/{id}")),
    );
    assert!(
        dom.contains("Snapshot stored"),
        "the record page was navigated away: {dom}"
    );
    assert!(dom.contains(&format!("/d/{id}")), "{dom}");

    // Nothing reached the viewer on the hostile page's behalf, while the frame was loaded.
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log.lock().unwrap().clone();
    assert!(
        log.iter().any(|l| l.starts_with("documents GET /d/")),
        "the frame was loaded: {log:?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("EXFILTRATE")),
        "archived script reached the viewer: {log:?}"
    );

    // A screenshot of a record page, as a person sees it.
    let shot = profile.path().join("record.png");
    headless(
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1100,1500",
            "--hide-scrollbars",
        ],
        &server.url(&format!("/r/{terms}")),
    );
    let png = std::fs::read(&shot).expect("chromium wrote a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert!(
        png.len() > 20_000 && png.len() < 5_000_000,
        "a PNG of {} bytes is not a rendered page",
        png.len()
    );
    if let Some(out) = std::env::var_os("EXHIBIT_SCREENSHOT_OUT") {
        std::fs::copy(&shot, out).unwrap();
    }
}

/// A browser capture's record page shows what the reader saw (the screenshot, from the
/// documents' origin) and every part; each part is served from the archive, byte for byte what
/// the record cites, and none once the record no longer verifies.
#[test]
fn a_browser_capture_shows_its_screenshot_and_serves_every_part() {
    if skip_browser() {
        return;
    }
    let env = Env::new();
    let srv = common::server::TestServer::start(vec![
        (
            "/",
            common::server::Route::html(
                b"<!doctype html><title>Seen</title><link rel=stylesheet href=/s.css><p>policy text"
                    .to_vec(),
            ),
        ),
        (
            "/s.css",
            common::server::Route::Status {
                status: 200,
                reason: "OK",
                content_type: "text/css",
                body: b"p { color: rgb(1, 2, 3) }".to_vec(),
                headers: vec![],
            },
        ),
    ]);
    let r = env.run(&[
        "capture",
        "--browser",
        "--json",
        "--timeout",
        "8",
        &srv.url("/"),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let line: serde_json::Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    let id = line["record_id"].as_str().unwrap().to_string();
    let m: serde_json::Value = serde_json::from_str(&env.ok(&["show", &id, "--json"])).unwrap();
    let server = Server::start(&env, &[]);
    let (status, _, page) = get(&server.url(&format!("/r/{id}")));
    assert_eq!(status, 200);
    assert!(page.contains("What the reader saw"), "{page}");
    assert!(page.contains("Parts"), "{page}");
    assert!(page.contains(&srv.url("/s.css")), "{page}");
    // Every part link points at the documents' origin and serves the cited bytes.
    let prefix = format!("http://{}/d/{id}/part/", server.documents);
    let links: Vec<String> = page
        .match_indices(&prefix)
        .map(|(at, _)| {
            let rest = &page[at..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect();
    assert!(
        links.len() >= 4,
        "screenshot, pdf, dom and the stylesheet: {links:?}"
    );
    let mut hashes = Vec::new();
    for link in &links {
        let r = client().get(link).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{link}");
        hashes.push(common::sha256_hex(&r.bytes().unwrap()));
    }
    let shown = m.to_string();
    for h in &hashes {
        assert!(
            shown.contains(h.as_str()),
            "{h} is not a hash the record cites"
        );
    }
    let screenshot = m["browser"]["attachments"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(hashes.contains(&screenshot), "the screenshot is served");
    // Once a part is damaged, the record does not verify and no part is served.
    flip_one_byte(&env, &screenshot);
    let (status, _, page) = get(&server.url(&format!("/r/{id}")));
    assert_eq!(status, 200);
    assert!(page.contains("does NOT verify"), "{page}");
    let r = client().get(&links[0]).send().unwrap();
    assert_eq!(r.status().as_u16(), 409);
}

/// A browser capture replays from the archive alone: on its own origin its scripts run (the
/// text a script fetched and inserted is there), and the page's original server sees no request
/// at all while it replays, even though it is still up.
#[test]
fn a_browser_capture_replays_from_the_archive_alone() {
    if skip_browser() {
        return;
    }
    let env = Env::new();
    let srv = common::server::TestServer::start(vec![
        (
            "/",
            common::server::Route::html(
                b"<!doctype html><title>Replay</title><link rel=stylesheet href=/s.css>\
                  <div id=out></div><script>fetch('/data.json').then(r => r.json()).then(d => {\
                  const e = document.createElement('p'); e.id = 'inserted'; e.textContent = d.text;\
                  document.getElementById('out').append(e); });</script>"
                    .to_vec(),
            ),
        ),
        (
            "/s.css",
            common::server::Route::Status {
                status: 200,
                reason: "OK",
                content_type: "text/css",
                body: b"p { color: rgb(1, 2, 3) }".to_vec(),
                headers: vec![],
            },
        ),
        (
            "/data.json",
            common::server::Route::Status {
                status: 200,
                reason: "OK",
                content_type: "application/json",
                body: br#"{"text": "inserted by a script from JSON"}"#.to_vec(),
                headers: vec![],
            },
        ),
    ]);
    let r = env.run(&[
        "capture",
        "--browser",
        "--json",
        "--timeout",
        "8",
        &srv.url("/"),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let line: serde_json::Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    let id = line["record_id"].as_str().unwrap().to_string();
    let server = Server::start(&env, &[]);
    let (_, _, page) = get(&server.url(&format!("/r/{id}")));
    let replay = format!(
        "http://r-{}.localhost:{}/",
        id.to_ascii_lowercase(),
        server.documents.port()
    );
    assert!(
        page.contains(&replay),
        "the record page links the replay: {page}"
    );
    let before = srv.hits("/") + srv.hits("/s.css") + srv.hits("/data.json");
    let profile = tempfile::tempdir().unwrap();
    let dom = headless(
        profile.path(),
        &["--virtual-time-budget=10000", "--dump-dom"],
        &replay,
    );
    assert!(dom.contains("inserted by a script from JSON"), "{dom}");
    let after = srv.hits("/") + srv.hits("/s.css") + srv.hits("/data.json");
    assert_eq!(
        after, before,
        "the original server was asked during the replay"
    );
    // Served with the replay policy, from the record: the stylesheet and the JSON.
    let replay_host = format!(
        "r-{}.localhost:{}",
        id.to_ascii_lowercase(),
        server.documents.port()
    );
    let r = client()
        .get(format!("http://{}/s.css", server.documents))
        .header("host", &replay_host)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert_eq!(r.text().unwrap(), "p { color: rgb(1, 2, 3) }");
    // On a replay origin, the documents' own paths are not served: a replayed script cannot
    // read any record's document or parts (its own or another's) as same-origin data.
    for path in [format!("/d/{id}"), format!("/d/{id}/part/0")] {
        let r = client()
            .get(format!("http://{}{path}", server.documents))
            .header("host", &replay_host)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
    }
    // A mistyped record ID in the host is not found, not redirected (which would loop).
    // (The last character is replaced by a different one: the ID itself is random.)
    let lower = id.to_ascii_lowercase();
    let last = if lower.ends_with('x') { 'y' } else { 'x' };
    let typo = format!(
        "r-{}{last}.localhost:{}",
        &lower[..16],
        server.documents.port()
    );
    let r = client()
        .get(format!("http://{}/", server.documents))
        .header("host", typo)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // A path the record does not hold is a 404, never a live fetch.
    let r = client()
        .get(format!("http://{}/other.js", server.documents))
        .header("host", &replay_host)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(srv.hits("/other.js"), 0);
}

/// Go's own tlog client (`golang.org/x/mod/sumdb/tlog`, tests/tiles/verify.go), built here
/// from the Debian packages `.ci/test` installs.
fn go_tlog_client() -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tlog-verify");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tiles/verify.go");
    let st = Command::new("go")
        .args(["build", "-o", out.to_str().unwrap(), src])
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env(
            "GOCACHE",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
        )
        .status()
        .expect("`go` (Debian golang-go and golang-golang-x-mod-dev; .ci/test installs them)");
    assert!(st.success(), "go build of tests/tiles/verify.go failed");
    out
}

/// The manifests of the log's leaves, in log order, from `log/leaves` and `records/`.
fn manifests_in_log_order(env: &Env, to: &std::path::Path) -> Vec<PathBuf> {
    let leaves = std::fs::read(env.archive.join("log/leaves")).unwrap();
    let files = common::files_under(&env.archive.join("records"));
    let paths: Vec<PathBuf> = leaves
        .chunks(83)
        .map(|line| {
            let id = std::str::from_utf8(&line[..17]).unwrap();
            files
                .iter()
                .find(|p| p.file_name().unwrap().to_str() == Some(&format!("{id}.json")))
                .unwrap()
                .clone()
        })
        .collect();
    let list: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
    std::fs::write(to, list.join("\n") + "\n").unwrap();
    paths
}

/// A plain static web server (Python's http.server) over `dir`, and its port.
fn static_site(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new("python3")
        .args([
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .split(" port ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    (child, port.to_string())
}

#[test]
fn the_log_is_published_as_tlog_tiles_that_gos_own_client_verifies() {
    let env = Env::new();
    let pages: Vec<(String, common::server::Route)> = (0..300)
        .map(|i| {
            (
                format!("/p{i}"),
                common::server::Route::html(format!("<title>Page {i}</title><p>{i}</p>")),
            )
        })
        .collect();
    let site = common::serve_owned(pages);
    let urls =
        |r: std::ops::Range<usize>| r.map(|i| site.url(&format!("/p{i}"))).collect::<Vec<_>>();
    // 261 leaves: a full leaf tile, a partial one, and a partial tile one level up.
    let c = env
        .spawn_capture("first.txt", &urls(0..260))
        .wait_with_output()
        .unwrap();
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    let old = env.dir.path().join("old.checkpoint");
    std::fs::write(&old, env.ok(&["checkpoint"])).unwrap();
    let c = env
        .spawn_capture("second.txt", &urls(260..300))
        .wait_with_output()
        .unwrap();
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    let keys: serde_json::Value =
        serde_json::from_str(env.ok(&["keys", "--json"]).lines().next().unwrap()).unwrap();
    let vkey = keys["verifier_key"].as_str().unwrap().to_string();

    let server = Server::start(&env, &[]);
    let base = format!("http://{}", server.viewer);
    let list = env.dir.path().join("manifests.txt");
    let manifests = manifests_in_log_order(&env, &list);
    // The founding key record is leaf 0.
    assert_eq!(manifests.len(), 301);
    let go = go_tlog_client();
    let run = |list: &std::path::Path| {
        Command::new(&go)
            .args([&base, &vkey, list.to_str().unwrap(), old.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let o = run(&list);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ok 301\n");

    // The same log published as static files (`checkpoint --tiles`), served by a plain static
    // web server, verifies the same way.
    let site_dir = env.dir.path().join("site");
    env.ok(&["checkpoint", "--tiles", site_dir.to_str().unwrap()]);
    assert!(site_dir.join("tile/1/000.p/1").is_file());
    let (mut static_server, port) = static_site(&site_dir);
    let o = Command::new(&go)
        .args([
            &format!("http://127.0.0.1:{port}"),
            &vkey,
            list.to_str().unwrap(),
            old.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let _ = static_server.kill();
    let _ = static_server.wait();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ok 301\n");

    // FORMAT.md 9.9's check of one record by hand, run literally on the published files.
    let format =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let section = &format[format.find("**Checking one record by hand.**").unwrap()..];
    let start = section.find("```sh\n").unwrap() + 6;
    let script = &section[start..start + section[start..].find("```").unwrap()];
    let by_hand = |i: usize, manifest: &std::path::Path| {
        let script = script
            .replace("i=7;", &format!("i={i};"))
            .replace("EX-….json", manifest.to_str().unwrap());
        let o = Command::new("bash")
            .args(["-c", &script])
            .current_dir(&site_dir)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let lines: Vec<String> = out.lines().map(String::from).collect();
        assert!(o.status.success() && lines.len() == 2, "{out}");
        assert_eq!(lines[0].len(), 64);
        lines[0] == lines[1]
    };
    assert!(by_hand(7, &manifests[7]));
    // A leaf in the last, partial tile (301 leaves: tile/0/001.p/45).
    assert!(by_hand(290, &manifests[290]));
    let altered = env.dir.path().join("altered.json");
    let mut bytes = std::fs::read(&manifests[7]).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&altered, bytes).unwrap();
    assert!(!by_hand(7, &altered));

    // A client that holds the older checkpoint (261 leaves) proves its leaves from the same
    // directory: the partial tiles of its size are there too.
    let old_list = env.dir.path().join("old-manifests.txt");
    let text = std::fs::read_to_string(&list).unwrap();
    let first: Vec<&str> = text.lines().take(261).collect();
    std::fs::write(&old_list, first.join("\n") + "\n").unwrap();
    let (mut static_server, port) = static_site(&site_dir);
    let o = Command::new(&go)
        .args([
            &format!("http://127.0.0.1:{port}"),
            &vkey,
            old_list.to_str().unwrap(),
        ])
        .env("EXHIBIT_CHECKPOINT", &old)
        .output()
        .unwrap();
    let _ = static_server.kill();
    let _ = static_server.wait();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ok 261\n");
    assert!(site_dir.join("tile/0/001.p/5").is_file());

    // DIR already publishes this log: another archive's checkpoint may not replace it, and
    // nothing is written through a link planted in a publishing directory.
    let other = Env::new();
    other.capture(&site.url("/p0"), &[]);
    let r = other.fails(&["checkpoint", "--tiles", site_dir.to_str().unwrap()], 2);
    common::assert_one_line_error(&r.stderr, "publishes another log");
    let planted = env.dir.path().join("planted");
    std::fs::create_dir_all(planted.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(planted.join("elsewhere"), planted.join("tile")).unwrap();
    let r = env.fails(&["checkpoint", "--tiles", planted.to_str().unwrap()], 2);
    common::assert_one_line_error(&r.stderr, "is a link or a file, not a directory");
    assert!(std::fs::read_dir(planted.join("elsewhere"))
        .unwrap()
        .next()
        .is_none());

    // Tiles are immutable; what the signed tree does not hold, or is not a tile path, is a 404.
    let (status, headers, _) = get(&format!("{base}/tile/0/000"));
    assert_eq!(status, 200);
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_eq!(get(&format!("{base}/tile/0/001.p/44")).0, 200);
    assert_eq!(get(&format!("{base}/tile/0/001.p/45")).0, 200);
    assert_eq!(get(&format!("{base}/tile/1/000.p/1")).0, 200);
    for missing in [
        "/tile/0/001",
        "/tile/0/001.p/46",
        "/tile/1/000.p/2",
        "/tile/0/002.p/1",
        "/tile/0/1",
        "/tile/x",
    ] {
        assert_eq!(get(&format!("{base}{missing}")).0, 404, "{missing}");
    }

    // A manifest that is not the logged one does not prove.
    let forged = env.dir.path().join("forged.json");
    let mut bytes = std::fs::read(&manifests[7]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&forged, bytes).unwrap();
    let text = std::fs::read_to_string(&list)
        .unwrap()
        .replace(manifests[7].to_str().unwrap(), forged.to_str().unwrap());
    let forged_list = env.dir.path().join("forged.txt");
    std::fs::write(&forged_list, text).unwrap();
    let o = run(&forged_list);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("leaf 7"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A flipped byte in the stored hashes (leaf 5's hash, stored hash 8) makes the served tile
    // disagree with the signed root, and the client says so.
    let hashes = env.archive.join("log/hashes");
    let mut h = std::fs::read(&hashes).unwrap();
    h[8 * 32] ^= 1;
    std::fs::write(&hashes, h).unwrap();
    let o = run(&list);
    assert!(!o.status.success(), "a tampered tile was accepted");
    let why = String::from_utf8_lossy(&o.stderr);
    assert!(
        why.contains("invalid transparency proof") || why.contains("inconsistent"),
        "{why}"
    );
    // A server started on the damaged log withholds its tiles (503, not cached) instead of
    // sending clients hashes they would keep for good.
    let fresh = Server::start(&env, &[]);
    let (status, headers, _) = get(&format!("http://{}/tile/0/000", fresh.viewer));
    assert_eq!(status, 503);
    assert_eq!(headers["cache-control"], "no-store");
    drop(fresh);
    // Nor does exhibit publish tiles that do not give the checkpoint's root.
    let r = env.fails(&["checkpoint", "--tiles", site_dir.to_str().unwrap()], 1);
    common::assert_one_line_error(
        &r.stderr,
        "stored hash 9 (completed by leaf 5) is not the hash of the hashes below it",
    );
    drop(server);
}

/// GET `url` with the Host header set to `host`.
fn get_as(url: &str, host: &str) -> (u16, String) {
    let r = client().get(url).header("host", host).send().unwrap();
    let status = r.status().as_u16();
    (status, r.text().unwrap())
}

/// Review: any Host was answered, so a page of attacker.example rebound to 127.0.0.1 (DNS
/// rebinding) read the viewer's API as its own origin, and the record page built its iframe's
/// origin from that Host.
#[test]
fn requests_naming_another_host_are_refused() {
    let env = Env::new();
    let (id, _) = import(&env, "terms.html", TERMS, "https://example.org/terms");
    let server = Server::start(&env, &[]);
    let (vp, dp) = (server.viewer.port(), server.documents.port());
    let viewer_paths = [
        format!("/api/records/{id}"),
        format!("/r/{id}"),
        "/".to_string(),
        "/checkpoint".to_string(),
        "/nothing/here".to_string(),
    ];
    for path in &viewer_paths {
        for host in [
            format!("attacker.example:{vp}"),
            format!("attacker.example:{}", vp + 1),
            "attacker.example".to_string(),
            format!("127.0.0.1:{}", vp.wrapping_add(7)),
            format!("localhost:{dp}"),
            format!("r-{}.localhost:{vp}", id.to_ascii_lowercase()),
        ] {
            let (status, body) = get_as(&server.url(path), &host);
            assert_eq!(status, 421, "{path} as {host}: {body}");
            assert!(!body.contains(&id) && !body.contains("attacker"), "{body}");
            assert_eq!(body.lines().count(), 1, "{body}");
        }
        // With no Host header at all (HTTP/1.0 style): refused too.
        let raw = format!("GET {path} HTTP/1.0\r\n\r\n");
        assert_eq!(
            raw_status(server.viewer, raw.as_bytes()),
            Some(421),
            "{path}"
        );
    }
    for path in [
        format!("/d/{id}"),
        format!("/d/{id}/part/0"),
        "/".to_string(),
    ] {
        for host in [
            format!("attacker.example:{dp}"),
            format!("localhost:{vp}"),
            format!("r-{}.attacker.example:{dp}", id.to_ascii_lowercase()),
        ] {
            let (status, body) = get_as(&server.doc_url(&path), &host);
            assert_eq!(status, 421, "documents {path} as {host}: {body}");
        }
    }
    // The names the server is reached by, each with its own listener's port; a public name
    // only once it is allowed.
    assert_eq!(
        get_as(&server.url("/"), &format!("archive.example:{vp}")).0,
        421
    );
    drop(server);
    let server = Server::start(&env, &["--allow-host", "Archive.Example"]);
    let (vp, dp) = (server.viewer.port(), server.documents.port());
    for host in ["127.0.0.1", "localhost", "archive.example"] {
        let (status, page) = get_as(&server.url(&format!("/r/{id}")), &format!("{host}:{vp}"));
        assert_eq!(status, 200, "{host}: {page}");
        assert!(
            page.contains(&format!("src=\"http://{host}:{dp}/d/{id}\"")),
            "{host}: the iframe's origin: {page}"
        );
        let (status, _) = get_as(
            &server.url(&format!("/api/records/{id}")),
            &format!("{host}:{vp}"),
        );
        assert_eq!(status, 200, "{host}");
        let (status, _) = get_as(
            &server.doc_url(&format!("/d/{id}")),
            &format!("{host}:{dp}"),
        );
        assert_eq!(status, 200, "{host} (documents)");
    }
    // The bracketed IPv6 loopback is a name the server answers to, whatever it is bound to.
    assert_eq!(get_as(&server.url("/"), &format!("[::1]:{vp}")).0, 200);
    // An --allow-host that is not a bare name is a usage error, not a silent no-op.
    let r = env.fails(
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--allow-host",
            "archive.example:443",
        ],
        2,
    );
    common::assert_one_line_error(&r.stderr, "--allow-host");
}

/// Review: a title ending in U+202E or a label with an escape sequence reached the viewer's
/// pages raw, so the record ID, URL and hash after it displayed reversed; `exhibit cite`
/// already printed them escaped. The viewer shows what the command line prints.
#[test]
fn pages_show_bidi_and_escape_characters_as_the_command_line_prints_them() {
    let env = Env::new();
    let path = env.dir.path().join("terms.html");
    std::fs::write(&path, TERMS).unwrap();
    let out = env.ok(&[
        "import",
        path.to_str().unwrap(),
        "--url",
        "https://example.org/terms",
        "--entity",
        "Coursera\u{1b}[31m",
        "--document",
        "Terms of use\u{202E}",
        "--note",
        "see\u{2066}below\u{9b}",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let id = v["record_id"].as_str().unwrap().to_string();
    let server = Server::start(&env, &[]);
    let (status, _, page) = get(&server.url(&format!("/r/{id}")));
    assert_eq!(status, 200, "{page}");
    let raw: Vec<char> = page
        .chars()
        .filter(|c| matches!(c, '\u{202e}' | '\u{1b}' | '\u{2066}' | '\u{9b}'))
        .collect();
    assert!(raw.is_empty(), "raw {raw:?} on the record page: {page}");
    for shown in [
        "Terms of use\\u{202e}",
        "Coursera\\u{1b}[31m",
        "see\\u{2066}below\\u{9b}",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    // Each citation block is what `exhibit cite` prints in that format, HTML-escaped.
    let html_escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    for format in ["text", "bluebook", "bibtex", "csl-json"] {
        let cited = env.ok(&["cite", &id, "--format", format]);
        assert!(
            page.contains(&html_escape(&cited)),
            "{format}: the page's block differs from `exhibit cite`:\n{cited}\n{page}"
        );
    }
    // The history page and an error page that repeats the title are escaped alike.
    let (_, _, history) = get(&server.url("/u?url=https%3A%2F%2Fexample.org%2Fterms"));
    assert!(!history.contains('\u{202e}'), "{history}");
}

/// The history page's "Last verified" and "First tracked" come from the records' manifests, so
/// the viewer verifies every record of the URL first, as `exhibit history` does: a manifest
/// whose date was edited gets a refusal naming the record, never a page showing that date. An
/// import of the same bytes again is not called a check.
#[test]
fn the_history_page_shows_no_date_from_a_record_that_does_not_verify() {
    let env = Env::bare();
    env.ok(&["init", "--layout", "loose"]);
    let url = "https://example.org/terms";
    import(&env, "v1.html", TERMS, url);
    let (again, _) = import(&env, "v2.html", TERMS, url);
    let server = Server::start(&env, &[]);
    let page_url = server.url("/u?url=https%3A%2F%2Fexample.org%2Fterms");
    let (status, _, page) = get(&page_url);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Imported again: unchanged"), "{page}");
    assert!(!page.contains("Checked: unchanged"), "{page}");

    let manifest = env
        .archive
        .join("records")
        .join(&again[3..5])
        .join(format!("{again}.json"));
    let text = std::fs::read_to_string(&manifest).unwrap();
    let at = text
        .split("\"captured_at\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    std::fs::write(&manifest, text.replace(&at, "2027-06-01T00:00:00Z")).unwrap();
    let (status, _, page) = get(&page_url);
    assert_eq!(status, 409, "{page}");
    assert!(
        page.contains(&format!("Record {again} of this URL does not verify")),
        "{page}"
    );
    assert!(!page.contains("2027"), "{page}");
}

/// The viewer's lookups by hash read `log/leaves`, an unsigned index. With a line edited to hide
/// a document, a lookup of that document says the archive failed verification (a 500 page, an
/// API report of exit 1), never "nothing in this archive matches" (404); an absent document on
/// an intact archive is a 404.
#[test]
fn an_edited_index_is_damage_in_the_viewer_not_absence() {
    let env = Env::new();
    let (id, sha) = import(&env, "terms.html", TERMS, "https://example.org/terms");
    let absent = common::sha256_hex(b"never archived");
    let leaves = env.archive.join("log/leaves");
    let text = std::fs::read_to_string(&leaves).unwrap();
    let server = Server::start(&env, &[]);
    for path in [
        format!("/r/sha256:{absent}"),
        format!("/api/verify/sha256:{absent}"),
    ] {
        assert_eq!(get(&server.url(&path)).0, 404, "{path}");
    }
    let edited = text.replace(&format!("{id} {sha}"), &format!("{id} {absent}"));
    assert_ne!(text, edited);
    std::fs::write(&leaves, edited).unwrap();
    let (status, _, body) = get(&server.url(&format!("/r/sha256:{sha}")));
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("failed verification"), "{body}");
    // The API's report is a 200 whatever it finds; it finds damage (exit 1), not absence.
    let (status, _, body) = get(&server.url(&format!("/api/verify/sha256:{sha}")));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ok"], false, "{v:#}");
    assert_eq!(v["errors"][0]["exit_code"], 1, "{v:#}");
}
