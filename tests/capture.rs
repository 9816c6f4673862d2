//! Capturing through the real binary against real HTTP servers on loopback: the happy path and
//! each way a server can misbehave. Every failure must exit with the documented code, say why on
//! one line, store nothing and leave an archive that audits clean.

mod common;

use common::server::{Route, TestServer};
use common::{assert_one_line_error, sha256_hex, Env};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAGE: &[u8] = b"<!doctype html><html><head><title>Terms &amp; Conditions</title></head><body>Hello</body></html>";

fn html(body: &[u8]) -> Route {
    Route::Ok {
        content_type: "text/html; charset=utf-8",
        body: body.to_vec(),
    }
}

/// A failed capture stores nothing and leaves the archive auditing clean.
fn assert_nothing_stored(env: &Env) {
    assert_eq!(env.counts(), (0, 0), "a failed capture stored something");
    if env.archive.join("exhibit.json").exists() {
        env.assert_audit_clean();
    }
}

/// A route that answers with `bytes` as a body in `encoding`, its Content-Length saying how
/// many bytes are sent.
fn encoded(content_type: &'static str, encoding: &'static str, bytes: Vec<u8>) -> Route {
    Route::Custom(Arc::new(move |_req, stream| {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Encoding: {encoding}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            bytes.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&bytes);
    }))
}

#[test]
fn capture_happy_path_prints_record_and_verifies() {
    let srv = TestServer::start(vec![("/terms", html(PAGE))]);
    let env = Env::bare();
    let url = srv.url("/terms");
    // Only `init` (or --init) creates an archive: a capture run from the wrong folder must not
    // quietly start a second archive. The error names where exhibit looked.
    let r = env.fails(&["capture", &url], 7);
    assert_one_line_error(&r.stderr, "no exhibit archive at");
    assert!(
        r.stderr.contains(env.archive.to_str().unwrap()),
        "{}",
        r.stderr
    );
    assert!(!env.archive.exists(), "a failed capture created an archive");
    let r = env.run(&[
        "capture",
        &url,
        "--init",
        "--entity",
        "Example",
        "--document",
        "Terms",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // `--init` creates the archive and the key, and says so.
    assert!(r.stderr.contains("created a new archive"), "{}", r.stderr);
    assert!(r.stderr.contains("created signing key"), "{}", r.stderr);
    let fields: Vec<&str> = r.stdout.trim().split("  ").collect();
    assert_eq!(fields.len(), 3, "{}", r.stdout);
    assert!(fields[0].starts_with("EX-"));
    assert_eq!(fields[1], sha256_hex(PAGE));
    assert_eq!(fields[2], url);

    let v = env.capture(&url, &[]);
    for k in [
        "record_id",
        "sha256",
        "size",
        "url",
        "final_url",
        "status",
        "content_type",
        "captured_at",
    ] {
        assert!(!v[k].is_null(), "JSON lacks {k}: {v}");
    }
    assert_eq!(v["sha256"], sha256_hex(PAGE));
    assert_eq!(v["size"], PAGE.len());
    assert_eq!(v["status"], 200);
    assert_eq!(v["content_type"], "text/html; charset=utf-8");
    assert_eq!(v["title"], "Terms & Conditions");
    let id = v["record_id"].as_str().unwrap();

    // The document bytes come back exactly.
    let out = env.command(&["cat", id]).output().unwrap();
    assert_eq!(out.stdout, PAGE);

    let shown: serde_json::Value = serde_json::from_str(&env.ok(&["show", "--json", id])).unwrap();
    assert_eq!(shown["method"], "capture");
    let req = &shown["http"]["request"]["headers"];
    assert!(req
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["name"] == "user-agent"));
    // What we say we sent is what the server received.
    let got = srv.last_request_headers("/terms");
    let ua = got
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
        .unwrap();
    assert!(ua.1.starts_with("exhibit/"), "{ua:?}");

    let out = env.ok(&["verify", id]);
    assert!(out.contains("verified"), "{out}");
    let cite = env.ok(&["cite", fields[0]]);
    assert!(
        cite.contains("Entity: Example") && cite.contains(&format!("Record ID: {}", fields[0])),
        "{cite}"
    );
    assert!(cite.contains("Document: Terms\n"), "{cite}");
    env.assert_audit_clean();
}

/// The page title a record keeps (and `show`, `cite` and the viewer print) is read as a browser
/// reads it: in the page's encoding, with every character reference decoded. It is signed data,
/// so the records made before keep verifying with the title they have.
#[test]
fn the_title_is_decoded_in_the_pages_encoding_with_every_character_reference() {
    let latin = Route::Ok {
        content_type: "text/html; charset=windows-1252",
        body: b"<html><head><title>Caf\xe9 &mdash; Men&uacute; &#x2014; &#8364;5 &#0;</title></head></html>".to_vec(),
    };
    let meta = Route::Ok {
        content_type: "text/html",
        body: b"<html><head><meta charset=\"iso-8859-2\"><title>\xa3\xf3d\xbc &frac12;</title></head></html>".to_vec(),
    };
    let srv = TestServer::start(vec![("/latin", latin), ("/meta", meta)]);
    let env = Env::new();
    let v = env.capture(&srv.url("/latin"), &[]);
    let title = "Caf\u{e9} \u{2014} Men\u{fa} \u{2014} \u{20ac}5 \u{fffd}";
    assert_eq!(v["title"], title);
    let id = v["record_id"].as_str().unwrap();
    let shown: serde_json::Value = serde_json::from_str(&env.ok(&["show", "--json", id])).unwrap();
    assert_eq!(shown["document"]["title"], title);
    let cite = env.ok(&["cite", id, "--format", "oneline"]);
    assert!(cite.contains(title), "{cite}");
    let v = env.capture(&srv.url("/meta"), &[]);
    assert_eq!(v["title"], "\u{141}\u{f3}d\u{17a} \u{bd}");
    env.assert_audit_clean();
}

#[test]
fn redirect_chain_is_recorded_hop_by_hop() {
    let srv = TestServer::start(vec![
        (
            "/old",
            Route::Redirect {
                status: 301,
                location: "/middle".into(),
            },
        ),
        (
            "/middle",
            Route::Redirect {
                status: 302,
                location: "/new".into(),
            },
        ),
        ("/new", html(PAGE)),
    ]);
    let env = Env::new();
    let v = env.capture(&srv.url("/old"), &[]);
    assert_eq!(v["url"], srv.url("/old"));
    assert_eq!(v["final_url"], srv.url("/new"));
    let m: serde_json::Value =
        serde_json::from_str(&env.ok(&["show", "--json", v["record_id"].as_str().unwrap()]))
            .unwrap();
    let hops = m["http"]["redirects"].as_array().unwrap();
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[0]["response"]["status"], 301);
    assert_eq!(hops[0]["location"], "/middle");
    assert_eq!(hops[0]["request"]["url"], srv.url("/old"));
    assert_eq!(hops[1]["response"]["status"], 302);
    assert_eq!(hops[1]["request"]["url"], srv.url("/middle"));
    assert_eq!(m["http"]["request"]["url"], srv.url("/new"));
    env.assert_audit_clean();
}

/// A `Location` that is not UTF-8 (a Latin-1 path, say) is followed as browsers follow it, each
/// byte from 0x80 up percent-encoded, not as U+FFFD (`%EF%BF%BD`, a URL the server never named).
/// The hop's recorded `location` stays the header as text, the exact bytes in its header list.
#[test]
fn a_location_that_is_not_utf8_is_followed_percent_encoded() {
    let srv = TestServer::start(vec![
        (
            "/old",
            Route::Status {
                status: 302,
                reason: "Found",
                content_type: "",
                body: Vec::new(),
                headers: vec![("Location".into(), b"/caf\xe9?q=\xff x#fr\xe9".to_vec())],
            },
        ),
        ("/caf%E9?q=%FF%20x", html(PAGE)),
    ]);
    let env = Env::new();
    let v = env.capture(&srv.url("/old"), &[]);
    assert_eq!(v["final_url"], srv.url("/caf%E9?q=%FF%20x#fr%E9"));
    assert_eq!(v["sha256"], sha256_hex(PAGE));
    assert_eq!(srv.hits("/caf%E9?q=%FF%20x"), 1);
    let m: serde_json::Value =
        serde_json::from_str(&env.ok(&["show", "--json", v["record_id"].as_str().unwrap()]))
            .unwrap();
    let hop = &m["http"]["redirects"][0];
    assert_eq!(hop["location"], "/caf\u{fffd}?q=\u{fffd} x#fr\u{fffd}");
    let header = hop["response"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "location")
        .unwrap();
    assert_eq!(header["value_base64"], "L2NhZuk/cT3/IHgjZnLp", "{header}");
    env.assert_audit_clean();
}

#[test]
fn redirect_loop_and_too_many_redirects_are_refused() {
    let mut routes = vec![
        (
            "/a",
            Route::Redirect {
                status: 302,
                location: "/b".into(),
            },
        ),
        (
            "/b",
            Route::Redirect {
                status: 302,
                location: "/a".into(),
            },
        ),
    ];
    let paths: Vec<String> = (0..15).map(|i| format!("/r{i}")).collect();
    for (i, path) in paths.iter().enumerate() {
        routes.push((
            path.as_str(),
            Route::Redirect {
                status: 302,
                location: format!("/r{}", i + 1),
            },
        ));
    }
    let srv = TestServer::start(routes);
    let env = Env::new();
    let r = env.fails(&["capture", &srv.url("/a")], 5);
    assert_one_line_error(&r.stderr, "redirect loop");
    let r = env.fails(&["capture", &srv.url("/r0")], 5);
    assert_one_line_error(&r.stderr, "more than 10 redirects");
    assert_nothing_stored(&env);
}

#[test]
fn gzip_response_stores_decoded_document_and_wire_digest() {
    let body: Vec<u8> = b"<html><title>zipped</title>"
        .iter()
        .chain(&[b'z'; 20_000])
        .copied()
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let wire = gz.finish().unwrap();
    let srv = TestServer::start(vec![("/z", encoded("text/html", "gzip", wire.clone()))]);
    let env = Env::new();
    let v = env.capture(&srv.url("/z"), &[]);
    // The cited hash is the decoded document's, which is what a browser shows and saves.
    assert_eq!(v["sha256"], sha256_hex(&body));
    assert_eq!(v["size"], body.len());
    let id = v["record_id"].as_str().unwrap();
    let m: serde_json::Value = serde_json::from_str(&env.ok(&["show", "--json", id])).unwrap();
    assert_eq!(m["http"]["content_encoding"], "gzip");
    // The wire body's digest matches another archive's copy of the same response (WARC).
    assert_eq!(m["http"]["payload"]["sha256"], sha256_hex(&wire));
    assert_eq!(m["http"]["payload"]["size"], wire.len());
    assert_eq!(env.command(&["cat", id]).output().unwrap().stdout, body);
    env.assert_audit_clean();
}

/// A compressed body cut short, with a Content-Length that matches what was sent, so only the
/// decoder can tell: it must be refused, never stored as a shorter document.
#[test]
fn truncated_compressed_bodies_are_refused() {
    let body = b"0123456789abcdef".repeat(4096);
    let zst = zstd::encode_all(&body[..], 3).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let gz = gz.finish().unwrap();
    let serve = |encoding: &'static str, bytes: Vec<u8>| {
        encoded(
            "text/plain",
            encoding,
            bytes[..bytes.len() * 2 / 3].to_vec(),
        )
    };
    let srv = TestServer::start(vec![
        ("/zstd", serve("zstd", zst.clone())),
        ("/gzip", serve("gzip", gz)),
    ]);
    let env = Env::new();
    for path in ["/zstd", "/gzip"] {
        let r = env.fails(&["capture", &srv.url(path)], 5);
        assert_one_line_error(&r.stderr, "corrupt or incomplete");
    }
    assert_nothing_stored(&env);
    // The whole zstd body is fine.
    let whole = TestServer::start(vec![("/z", encoded("text/plain", "zstd", zst))]);
    let v = env.capture(&whole.url("/z"), &[]);
    assert_eq!(v["sha256"], sha256_hex(&body));
}

/// A zstd body may not choose its decoder's memory: a window over RFC 9659's 8 MiB (here 16
/// MiB, declared by a small frame) is refused with its own line, one of 8 MiB is decoded.
#[test]
fn zstd_bodies_asking_for_a_window_over_8_mib_are_refused() {
    let body = b"a page compressed with a large window ".repeat(100);
    let frame = |window_log: u32| {
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.window_log(window_log).unwrap();
        e.write_all(&body).unwrap();
        let f = e.finish().unwrap();
        // Window_Descriptor: exponent in the high five bits, log = 10 + exponent.
        assert_eq!(u32::from(f[5] >> 3) + 10, window_log, "{:02x?}", &f[..8]);
        f
    };
    let srv = TestServer::start(vec![
        ("/wide", encoded("text/plain", "zstd", frame(24))),
        ("/eight", encoded("text/plain", "zstd", frame(23))),
    ]);
    let env = Env::new();
    let r = env.fails(&["capture", &srv.url("/wide")], 5);
    assert_one_line_error(&r.stderr, "window over 8 MiB");
    assert_nothing_stored(&env);
    let v = env.capture(&srv.url("/eight"), &[]);
    assert_eq!(v["sha256"], sha256_hex(&body));
}

#[test]
fn chunked_gzip_from_server_route_decodes() {
    let body = b"chunked and gzipped ".repeat(500);
    let srv = TestServer::start(vec![(
        "/cz",
        Route::Gzip {
            content_type: "text/plain",
            body: body.clone(),
            chunked: true,
        },
    )]);
    let env = Env::new();
    let v = env.capture(&srv.url("/cz"), &[]);
    assert_eq!(v["sha256"], sha256_hex(&body));
}

#[test]
fn error_status_is_refused_unless_allowed() {
    let srv = TestServer::start(vec![
        (
            "/gone",
            Route::Status {
                status: 404,
                reason: "Not Found",
                content_type: "text/html",
                body: b"<html>gone</html>".to_vec(),
                headers: vec![],
            },
        ),
        (
            "/broken",
            Route::Status {
                status: 500,
                reason: "Internal Server Error",
                content_type: "text/html",
                body: b"<html>oops</html>".to_vec(),
                headers: vec![],
            },
        ),
    ]);
    let env = Env::new();
    let r = env.fails(&["capture", &srv.url("/gone")], 5);
    assert_one_line_error(&r.stderr, "404");
    assert!(r.stderr.contains("--allow-status"));
    let r = env.fails(&["capture", &srv.url("/broken")], 5);
    assert_one_line_error(&r.stderr, "500 Internal Server Error");
    assert_nothing_stored(&env);
    let v = env.capture(&srv.url("/gone"), &["--allow-status"]);
    assert_eq!(v["status"], 404);
    env.assert_audit_clean();
}

#[test]
fn truncated_body_is_refused() {
    let srv = TestServer::start(vec![(
        "/cut",
        Route::Truncated {
            claimed: 10_000,
            body: vec![b'a'; 4_000],
        },
    )]);
    let env = Env::new();
    let r = env.fails(&["capture", &srv.url("/cut")], 5);
    assert_one_line_error(&r.stderr, "nothing was stored");
    assert!(r.stderr.contains("10000"), "{}", r.stderr);
    assert_nothing_stored(&env);
}

/// A Content-Length of 2^62 (the writer reserves room for the size a server claims, within its
/// bounds) ends as a short body does: one line, nothing stored, no crash. One of 2^64 - 1, which
/// the HTTP library cannot take, is refused as a response head exhibit does not accept.
#[test]
fn an_absurd_content_length_is_refused() {
    let srv = TestServer::start(vec![
        (
            "/absurd",
            Route::Truncated {
                claimed: 1 << 62,
                body: vec![b'a'; 4_000],
            },
        ),
        (
            "/unreal",
            Route::Truncated {
                claimed: usize::MAX,
                body: vec![b'a'; 4_000],
            },
        ),
    ]);
    let env = Env::new();
    let r = env.fails(&["capture", &srv.url("/absurd")], 5);
    assert_one_line_error(&r.stderr, "4000 of 4611686018427387904 bytes");
    let r = env.fails(&["capture", &srv.url("/unreal")], 5);
    assert_one_line_error(&r.stderr, "Content-Length too large to be real");
    assert_nothing_stored(&env);
}

#[test]
fn silent_server_times_out() {
    let srv = TestServer::start(vec![("/hang", Route::Hang)]);
    let env = Env::new();
    let t = Instant::now();
    let r = env.fails(&["capture", &srv.url("/hang"), "--timeout", "1"], 5);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_one_line_error(&r.stderr, "did not finish within 1 s");
    assert_nothing_stored(&env);
}

#[test]
fn slow_drip_hits_the_total_deadline() {
    // Each byte arrives well within any per-read timeout; only a total deadline stops it.
    let srv = TestServer::start(vec![(
        "/drip",
        Route::Drip {
            interval: Duration::from_millis(200),
        },
    )]);
    let env = Env::new();
    let t = Instant::now();
    let r = env.fails(&["capture", &srv.url("/drip"), "--timeout", "2"], 5);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert_one_line_error(&r.stderr, "did not finish within 2 s");
    assert_nothing_stored(&env);
}

/// A server that accepts the connection and never answers the TLS handshake is stopped by the
/// connect timeout, not the total one, and the message names the flag that applies (it named
/// --timeout). `check` takes the same flag.
#[test]
fn a_stalled_tls_handshake_names_the_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    );
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let env = Env::new();
    for command in ["capture", "check"] {
        let t = Instant::now();
        let r = env.fails(
            &[command, &url, "--connect-timeout", "1", "--timeout", "30"],
            5,
        );
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert_one_line_error(
            &r.stderr,
            "the TCP connection and TLS handshake did not finish within the --connect-timeout of 1 s",
        );
        assert!(r.stderr.contains("raise --connect-timeout"), "{}", r.stderr);
        assert!(!r.stderr.contains("--timeout "), "{}", r.stderr);
    }
    // The total deadline, when it is the shorter, is the one named.
    let r = env.fails(
        &["capture", &url, "--connect-timeout", "30", "--timeout", "1"],
        5,
    );
    assert_one_line_error(&r.stderr, "did not finish within 1 s");
    assert!(r.stderr.contains("raise --timeout"), "{}", r.stderr);
    assert_nothing_stored(&env);
}

/// An error line is capped at 1,000 characters; the cut takes the middle, so the cause at the
/// end of a message that repeats a long URL is still there (it was cut off).
#[test]
fn a_capped_error_line_keeps_its_cause() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/{}", "a".repeat(3_000));
    let env = Env::new();
    let r = env.fails(&["capture", &url], 5);
    assert_one_line_error(&r.stderr, &format!("cannot connect to 127.0.0.1:{port}"));
    assert_one_line_error(&r.stderr, "characters) …");
    let line = r.stderr.lines().find(|l| l.starts_with("error:")).unwrap();
    let what = line.split(" (hint: ").next().unwrap();
    assert!(
        what.to_lowercase()
            .ends_with("connection refused (os error 111)"),
        "{line}"
    );
    assert!(line.chars().count() < 1_200, "{}", line.chars().count());
}

#[test]
fn oversize_and_endless_bodies_are_refused() {
    let srv = TestServer::start(vec![
        (
            "/big",
            Route::Ok {
                content_type: "text/plain",
                body: vec![b'x'; 50_000],
            },
        ),
        ("/endless", Route::Endless),
    ]);
    let env = Env::new();
    let r = env.fails(&["capture", &srv.url("/big"), "--max-size", "10000"], 5);
    assert_one_line_error(&r.stderr, "larger than the limit of 10000 bytes");
    let r = env.fails(
        &["capture", &srv.url("/endless"), "--max-size", "1000000"],
        5,
    );
    assert_one_line_error(&r.stderr, "larger than the limit");
    assert_nothing_stored(&env);
}

#[test]
fn gzip_bomb_is_limited_by_decoded_size() {
    // ~1 GB of zeros inflating from about a megabyte on the wire.
    let srv = TestServer::start(vec![("/bomb", Route::GzipBomb { inflated: 1 << 30 })]);
    let env = Env::new();
    let r = env.fails(&["capture", &srv.url("/bomb"), "--max-size", "20000000"], 5);
    assert_one_line_error(&r.stderr, "larger than the limit of 20000000 bytes");
    assert_nothing_stored(&env);
}

#[test]
fn same_content_twice_is_one_document_two_records() {
    let srv = TestServer::start(vec![("/one", html(PAGE)), ("/two", html(PAGE))]);
    let env = Env::new();
    let a = env.capture(&srv.url("/one"), &[]);
    let b = env.capture(&srv.url("/two"), &[]);
    assert_eq!(a["stored"], "new");
    assert_eq!(b["stored"], "deduplicated");
    assert_eq!(a["sha256"], b["sha256"]);
    assert_ne!(a["record_id"], b["record_id"]);
    assert_eq!(env.counts(), (1, 2));
    // A hash names both records; verifying it checks both.
    let out = env.ok(&["verify", a["sha256"].as_str().unwrap()]);
    assert_eq!(out.matches("verified").count(), 2, "{out}");
    env.assert_audit_clean();
}

#[test]
fn bad_urls_and_refused_connections() {
    let env = Env::bare();
    let r = env.fails(&["capture", "ftp://example.org/file"], 2);
    assert_one_line_error(&r.stderr, "unsupported scheme");
    let r = env.fails(&["capture", "not a url"], 2);
    assert_one_line_error(&r.stderr, "invalid URL");
    // Nothing is created for input that is rejected up front.
    assert!(!env.archive.exists());
    // A port nobody listens on: bind then drop to find one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = env.fails(
        &["capture", "--init", &format!("http://127.0.0.1:{port}/")],
        5,
    );
    assert_one_line_error(&r.stderr, "cannot connect");
    assert_nothing_stored(&env);
}

/// A URL longer than the HTTP library can send (65,534 characters as sent) is bad input: exit 2,
/// one line naming the cause and the limit, before anything is fetched or created (it was a
/// fetch failure, exit 5). The same for `check` and for a line of `--from`; one redirected to
/// is the server's fault and stays a fetch failure, named as such.
#[test]
fn a_url_too_long_to_send_is_bad_input() {
    let srv = TestServer::start(vec![
        ("/ok", html(PAGE)),
        (
            "/far",
            Route::Redirect {
                status: 302,
                location: format!("/ok?{}", "q".repeat(70_000)),
            },
        ),
    ]);
    let longest = format!("{}?{}", srv.url("/ok"), "q".repeat(10));
    let longest = format!("{longest}{}", "q".repeat(65_534 - longest.len()));
    let over = format!("{longest}q");
    // A space becomes %20: the length that counts is the URL as sent.
    let spaced = format!("{}?a{}b", srv.url("/ok"), " ".repeat(30_000));
    let env = Env::bare();
    for url in [&over, &spaced] {
        let r = env.fails(&["capture", "--init", url], 2);
        assert_one_line_error(&r.stderr, "URL too long to fetch");
        assert_one_line_error(&r.stderr, "over the limit of 65534");
        assert_eq!(r.stderr.lines().count(), 1, "{}", &r.stderr[..500]);
        assert!(r.stderr.len() < 1_000, "{}", r.stderr.len());
    }
    let list = env.dir.path().join("urls.txt");
    std::fs::write(&list, format!("{}\n{over}\n", srv.url("/ok"))).unwrap();
    let r = env.fails(&["capture", "--init", "--from", list.to_str().unwrap()], 2);
    assert_one_line_error(&r.stderr, "line 2: URL too long to fetch");
    assert!(!env.archive.exists(), "nothing is created for bad input");
    assert_eq!(srv.hits("/ok"), 0);

    let env = Env::new();
    // The limit itself is sent (the test server refuses a request head that large).
    assert_eq!(longest.len(), 65_534);
    let r = env.fails(&["capture", &longest], 5);
    assert_one_line_error(&r.stderr, "answered 431");
    let r = env.fails(&["check", &over], 2);
    assert_one_line_error(&r.stderr, "URL too long to fetch");
    let r = env.fails(&["capture", &srv.url("/far")], 5);
    let redirected = srv.url("/ok").len() + 1 + 70_000;
    assert_one_line_error(
        &r.stderr,
        &format!("redirects to a URL of {redirected} characters, over the limit"),
    );
    assert_nothing_stored(&env);
}

#[test]
fn batch_keeps_going_after_a_failure_and_summarises() {
    let srv = TestServer::start(vec![("/ok1", html(b"one")), ("/ok2", html(b"two"))]);
    let env = Env::new();
    let list = env.dir.path().join("urls.txt");
    std::fs::write(
        &list,
        format!(
            "# comment\n{}\n\n{}\n{}\n",
            srv.url("/ok1"),
            srv.url("/missing"),
            srv.url("/ok2")
        ),
    )
    .unwrap();
    let r = env.fails(
        &["capture", "--from", list.to_str().unwrap(), "--jobs", "3"],
        5,
    );
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("captured 2 of 3 URLs; 1 failed"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("/missing"));
    env.assert_audit_clean();
}

#[test]
fn non_utf8_and_many_headers_are_kept() {
    let srv = TestServer::start(vec![
        (
            "/odd",
            Route::Status {
                status: 200,
                reason: "OK",
                content_type: "text/plain",
                body: b"odd".to_vec(),
                headers: vec![("X-Odd".into(), vec![0xff, 0xfe, b'a'])],
            },
        ),
        (
            "/many",
            Route::ManyHeaders {
                count: 80,
                body: b"many".to_vec(),
            },
        ),
        (
            "/flood",
            Route::ManyHeaders {
                count: 20_000,
                body: b"flood".to_vec(),
            },
        ),
    ]);
    let env = Env::new();
    let v = env.capture(&srv.url("/odd"), &[]);
    let m: serde_json::Value =
        serde_json::from_str(&env.ok(&["show", "--json", v["record_id"].as_str().unwrap()]))
            .unwrap();
    let odd = m["http"]["response"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "x-odd")
        .cloned()
        .unwrap();
    assert_eq!(odd["value_base64"], "//5h");
    let v = env.capture(&srv.url("/many"), &[]);
    let m: serde_json::Value =
        serde_json::from_str(&env.ok(&["show", "--json", v["record_id"].as_str().unwrap()]))
            .unwrap();
    assert!(m["http"]["response"]["headers"].as_array().unwrap().len() >= 80);
    let r = env.fails(&["capture", &srv.url("/flood")], 5);
    assert_one_line_error(&r.stderr, "response head");
    assert_eq!(env.counts(), (2, 2));
    env.assert_audit_clean();
}

/// A server that answers with `Connection: keep-alive` and then closes the connection (as a
/// server does when its keep-alive timeout runs out between two requests): the next request
/// of the batch goes into the closed connection, and is sent again on a new one; every URL is
/// captured.
#[test]
fn a_request_into_a_keep_alive_connection_the_server_closed_is_sent_again() {
    let routes: Vec<(String, Route)> = (0..6)
        .map(|i| {
            let body = format!("<title>page {i}</title><p>kept alive, then closed</p>");
            (
                format!("/k{i}"),
                Route::keep_alive_then_close("text/html", body.into_bytes()),
            )
        })
        .collect();
    let srv = common::serve_owned(routes);
    let env = Env::new();
    let list = env.dir.path().join("urls.txt");
    let urls: Vec<String> = (0..6).map(|i| srv.url(&format!("/k{i}"))).collect();
    std::fs::write(&list, urls.join("\n")).unwrap();
    let r = env.run(&["capture", "--from", list.to_str().unwrap(), "--jobs", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.lines().count(), 6, "{}", r.stdout);
    env.assert_audit_clean();
}

/// exhibit never asks for a range, so a `206 Partial Content` (here the first 10 bytes of a
/// 100,000-byte document) can only be a server's mistake: archiving its body would cite a
/// fragment as the whole document. It is refused like an error status, and `--allow-status`
/// (which is about error pages) does not let it through.
#[test]
fn a_206_partial_content_answer_is_refused() {
    let srv = TestServer::start(vec![("/part", Route::partial_content())]);
    let env = Env::new();
    for extra in [&[][..], &["--allow-status"][..]] {
        let mut args = vec!["capture", "--json"];
        args.extend_from_slice(extra);
        let url = srv.url("/part");
        args.push(&url);
        let r = env.fails(&args, 5);
        assert_one_line_error(&r.stderr, "206 Partial Content");
        assert!(r.stderr.contains("part of the document"), "{}", r.stderr);
        assert_nothing_stored(&env);
    }
}

/// A loopback server that answers each connection's first request (HTTP/1.1, so the connection
/// counts as kept alive) and meets the next one on the same connection with a reset, as a server
/// does that closed the idle connection with the request already in its socket. With
/// `reset_first`, it resets the first request too. Returns the address and the number of
/// requests received.
fn resetting_server(
    reset_first: bool,
) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicUsize, Ordering};
    fn reset(stream: std::net::TcpStream) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket and a correctly sized option value.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &linger as *const libc::linger as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        drop(stream);
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let counted = counted.clone();
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                if reset_first {
                    return reset(stream);
                }
                let path = String::from_utf8_lossy(&head)
                    .split(' ')
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                let body = format!("<title>{path}</title><p>answered, then reset</p>");
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                // Wait for the next request (or the client's close); a request is met with a reset.
                if let Ok(n) = stream.read(&mut byte) {
                    if n == 1 {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                }
                reset(stream);
            });
        }
    });
    (addr, requests)
}

/// A reset on a connection the client kept alive is the server's stale connection, not an
/// answer: the GET is sent again once, on a new connection, and every URL of the batch is
/// captured. Here every request that reuses a connection is reset, so half of them go through
/// that path.
#[test]
fn a_reset_on_a_reused_keep_alive_connection_is_sent_again() {
    let (addr, requests) = resetting_server(false);
    let env = Env::new();
    let list = env.dir.path().join("urls.txt");
    let urls: Vec<String> = (0..10).map(|i| format!("http://{addr}/r{i}")).collect();
    std::fs::write(&list, urls.join("\n")).unwrap();
    let r = env.run(&["capture", "--from", list.to_str().unwrap(), "--jobs", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.lines().count(), 10, "{}", r.stdout);
    // Each reset request was sent once more, never twice more.
    let sent = requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!((11..=20).contains(&sent), "{sent} requests for 10 URLs");
    env.assert_audit_clean();
}

/// A reset on a connection opened for the request is the server's answer to it: a failure
/// (exit 5), and the request is not sent again.
#[test]
fn a_reset_on_a_fresh_connection_fails_without_sending_again() {
    let (addr, requests) = resetting_server(true);
    let env = Env::new();
    let r = env.fails(&["capture", &format!("http://{addr}/once")], 5);
    assert_one_line_error(&r.stderr, "reset");
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_nothing_stored(&env);
}

/// A `--user-agent` that cannot be a header value (a CR LF would start a header of its own) is
/// bad input, refused before anything is created or fetched: not a fetch failure of every URL.
#[test]
fn a_user_agent_that_is_no_header_value_is_refused_up_front() {
    let srv = TestServer::start(vec![("/ua", html(PAGE))]);
    let env = Env::bare();
    for bad in ["exhibit\r\nX-Injected: 1", "del\u{7f}", "bell\u{7}"] {
        let r = env.fails(
            &["capture", "--init", "--user-agent", bad, &srv.url("/ua")],
            2,
        );
        assert_one_line_error(&r.stderr, "--user-agent");
        assert!(!r.stderr.contains("X-Injected: 1\n"), "{}", r.stderr);
        assert!(
            !env.archive.exists(),
            "a refused capture created an archive"
        );
    }
    assert_eq!(srv.hits("/ua"), 0);
    // A browser capture takes the same check before a browser is started.
    let r = env.fails(
        &[
            "capture",
            "--init",
            "--browser",
            "--user-agent",
            "a\nb",
            &srv.url("/ua"),
        ],
        2,
    );
    assert_one_line_error(&r.stderr, "--user-agent");
    // A user agent that is a header value is sent and recorded as given.
    let v = env.capture(
        &srv.url("/ua"),
        &["--init", "--user-agent", "Mozilla/5.0 (exhibit test)"],
    );
    assert!(v["record_id"].is_string(), "{v}");
    let sent = srv.last_request_headers("/ua");
    assert!(
        sent.iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("user-agent")
                && v.starts_with("Mozilla/5.0 (exhibit test)")),
        "{sent:?}"
    );
}
