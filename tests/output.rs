//! What exhibit prints, through the real binary: nothing of a record that does not verify is
//! presented as fine (`cat`, `cite`, `show`, `diff`), no string from a manifest, a server, a
//! bundle or the command line reaches the terminal with its control characters, echoed input is
//! capped, and a batch with many failures summarises them in one short line.

mod common;

use common::server::{Route, TestServer};
use common::{assert_one_line_error, Env};
use std::path::PathBuf;

/// Import `body`; returns (record ID, SHA-256).
fn import(env: &Env, name: &str, body: &[u8], url: &str, extra: &[&str]) -> (String, String) {
    let f = env.dir.path().join(name);
    std::fs::write(&f, body).unwrap();
    let mut args = vec!["import", "--json", f.to_str().unwrap(), "--url", url];
    args.extend_from_slice(extra);
    let out = env.ok(&args);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    (
        v["record_id"].as_str().unwrap().to_string(),
        v["sha256"].as_str().unwrap().to_string(),
    )
}

fn sig_path(env: &Env, id: &str) -> PathBuf {
    env.archive
        .join("records")
        .join(&id[3..5])
        .join(format!("{id}.sig"))
}

fn blob_path(env: &Env, sha: &str) -> PathBuf {
    env.archive
        .join("documents")
        .join(&sha[..2])
        .join(format!("{sha}.zst"))
}

const FIRST: &[u8] = b"<p>The fee is 10 dollars.</p>";
const SECOND: &[u8] = b"<p>The fee is 99 dollars; nothing else changed.</p>";

/// Two versions of one page; returns (env, [id, id2], [sha, sha2]).
fn two_versions() -> (Env, [String; 2], [String; 2]) {
    let env = Env::new();
    let html = ["--content-type", "text/html"];
    let (a, sa) = import(&env, "a.html", FIRST, "https://example.org/fees", &html);
    let (b, sb) = import(&env, "b.html", SECOND, "https://example.org/fees", &html);
    (env, [a, b], [sa, sb])
}

/// The stored blob of the first document replaced by a well-formed blob of another document:
/// every stored byte is intact, only the decompressed content is not the cited one. (A reader
/// that streams while it decompresses has already written the wrong bytes when it finds out.)
#[test]
fn a_swapped_document_is_never_written_cited_or_shown_as_fine() {
    let (env, [id, id2], [sha, sha2]) = two_versions();
    std::fs::copy(blob_path(&env, &sha2), blob_path(&env, &sha)).unwrap();

    let out = env.command(&["cat", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "cat wrote {} unverified bytes",
        out.stdout.len()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_one_line_error(&err, "does NOT verify");
    assert!(err.contains("document"), "{err}");

    for args in [
        vec!["cite", id.as_str()],
        vec!["cite", id.as_str(), "--format", "html"],
        vec!["diff", id.as_str(), id2.as_str()],
        vec!["diff", id2.as_str()],
    ] {
        let r = env.fails(&args, 1);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        assert_one_line_error(&r.stderr, "does NOT verify");
    }
    let r = env.fails(&["show", &id], 1);
    assert!(
        r.stdout.starts_with("NOT VERIFIED: document: "),
        "{}",
        r.stdout
    );
    assert_one_line_error(&r.stderr, "does NOT verify");
    // The record that was not touched is still fine.
    assert_eq!(env.command(&["cat", &id2]).output().unwrap().stdout, SECOND);
}

/// A record whose signature fails: its document is intact, but nothing it claims is proven.
#[test]
fn a_record_whose_signature_fails_is_not_cited_catted_or_shown_as_fine() {
    let (env, [id, id2], _) = two_versions();
    let sig = sig_path(&env, &id);
    let mut bytes = std::fs::read(&sig).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&sig, bytes).unwrap();

    let r = env.fails(&["cite", &id], 1);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_one_line_error(&r.stderr, &format!("record {id} does NOT verify"));
    assert!(r.stderr.contains("signature"), "{}", r.stderr);
    for format in ["oneline", "bluebook", "json", "bibtex", "html"] {
        let r = env.fails(&["cite", &id, "--format", format], 1);
        assert!(r.stdout.is_empty(), "{format}: {}", r.stdout);
    }
    let r = env.fails(&["cat", &id], 1);
    assert!(r.stdout.is_empty());
    assert_one_line_error(&r.stderr, "signature");
    let r = env.fails(&["diff", &id, &id2], 1);
    assert!(r.stdout.is_empty());

    let r = env.fails(&["show", &id], 1);
    let first = r.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("NOT VERIFIED: signature: "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("Record ID:    {id}")),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("Verified:     yes"), "{}", r.stdout);
    assert_one_line_error(&r.stderr, "does NOT verify");
    let r = env.fails(&["show", "--json", &id], 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["verification"]["ok"], false);
    assert_eq!(v["record_id"], id.as_str());

    // The good record says it verified.
    let out = env.ok(&["show", &id2]);
    assert!(out.starts_with("Verified:     yes"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["show", "--json", &id2])).unwrap();
    assert_eq!(v["verification"]["ok"], true);
}

/// Characters that drive a terminal or disguise text, as the test plants them.
const PLANTED: [char; 7] = [
    '\x1b', '\x07', '\r', '\u{9b}', '\u{202e}', '\u{200b}', '\u{8}',
];

fn assert_terminal_safe(what: &str, text: &str) {
    if let Some(c) = text.chars().find(|c| PLANTED.contains(c)) {
        panic!("{what}: raw {c:?} reached the output:\n{text:?}");
    }
}

/// Labels typed by a user (or a script fed from a hostile source), a page title from a server
/// and a bundle's file name carry terminal escapes, CR, C1 controls and bidi overrides. No
/// command prints them raw; the JSON outputs still parse to the exact values.
#[test]
fn control_characters_never_reach_the_terminal() {
    let srv = TestServer::start(vec![(
        "/t",
        Route::html(
            "<html><head><title>Terms \u{202e}fdp.exe</title></head><body><p>Terms</p></body></html>"
                .as_bytes()
                .to_vec(),
        ),
    )]);
    let env = Env::new();
    let entity = "Evil\x1b]0;pwned\x07 Inc.\u{9b}31m";
    let document = "Fees\r\u{2713} verified\x1b[2K";
    let note = "a\u{200b}b\u{8}\nsecond line";
    let labels = ["--entity", entity, "--document", document, "--note", note];
    let mut args = vec!["capture", srv.url("/t").leak() as &str];
    args.extend_from_slice(&labels);
    let out = env.ok(&args);
    assert_terminal_safe("capture", &out);
    let id = out.split_whitespace().next().unwrap().to_string();
    let mut args = vec!["import", "--content-type", "text/html"];
    let f = env.dir.path().join("f.html");
    std::fs::write(&f, "<p>Terms, second version</p>").unwrap();
    args.extend_from_slice(&[f.to_str().unwrap(), "--url", srv.url("/t").leak()]);
    args.extend_from_slice(&labels);
    let id2 = env.ok(&args).split_whitespace().next().unwrap().to_string();

    let mut runs: Vec<(String, common::Run)> = Vec::new();
    let url = srv.url("/t");
    for args in [
        vec!["show", &id],
        vec!["list"],
        vec!["history", &url],
        vec!["verify", &id],
        vec!["diff", &id, &id2],
        vec!["diff", &id, &id2, "--format", "html"],
        vec!["cite", &id],
        vec!["cite", &id, "--format", "markdown"],
        vec!["cite", &id, "--format", "oneline"],
        vec!["cite", &id, "--format", "bluebook"],
        vec!["cite", &id, "--format", "bibtex"],
        vec!["cite", &id, "--format", "html"],
        vec!["check", &id],
    ] {
        runs.push((format!("{args:?}"), env.run(&args)));
    }
    for (what, r) in &runs {
        assert!(matches!(r.code, 0 | 8), "{what}: {} {}", r.stdout, r.stderr);
        assert_terminal_safe(what, &r.stdout);
        assert_terminal_safe(what, &r.stderr);
    }
    // HTML shows them as escapes too (review: `&#x202E;` or `&#x1B;` still act in a browser,
    // so the labels came out as character references that reversed what followed).
    for i in [5, 11] {
        let (what, r) = &runs[i];
        let lower = r.stdout.to_ascii_lowercase();
        for reference in ["&#x1b;", "&#xd;", "&#x9b;", "&#x7;", "&#x202e;"] {
            assert!(
                !lower.contains(reference),
                "{what}: {reference}: {}",
                r.stdout
            );
        }
    }
    let certificate = &runs[11].1.stdout;
    assert!(
        certificate.contains("Fees\\r\u{2713} verified\\u{1b}[2K"),
        "{certificate}"
    );
    let show = &runs[0].1.stdout;
    assert!(
        show.contains("Entity:       Evil\\u{1b}]0;pwned\\u{7} Inc.\\u{9b}31m"),
        "{show}"
    );
    assert!(
        show.contains("Document:     Fees\\r\u{2713} verified\\u{1b}[2K"),
        "{show}"
    );
    assert!(
        show.contains("Title:        Terms \\u{202e}fdp.exe"),
        "{show}"
    );

    // JSON outputs: safe bytes, the same values.
    for args in [
        vec!["show", "--json", &id],
        vec!["list", "--json"],
        vec!["history", "--json", &url],
        vec!["cite", &id, "--format", "json"],
        vec!["cite", &id, "--format", "csl-json"],
        vec!["diff", "--json", &id, &id2],
        vec!["verify", "--json", &id],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_terminal_safe(&format!("{args:?}"), &r.stdout);
        // One (pretty) JSON value, or one per line.
        if serde_json::from_str::<serde_json::Value>(&r.stdout).is_err() {
            for line in r.stdout.lines() {
                let _: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("{args:?}: {e}: {line}"));
            }
        }
    }
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["show", "--json", &id])).unwrap();
    assert_eq!(v["labels"]["entity"], entity);
    assert_eq!(v["labels"]["document"], document);
    assert_eq!(v["labels"]["note"], note);
    assert_eq!(v["document"]["title"], "Terms \u{202e}fdp.exe");
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["cite", &id, "--format", "json"])).unwrap();
    assert_eq!(v["entity"], entity);

    // A bundle name and a typed argument with escapes: the error lines escape them.
    let r = env.fails(&["verify", "evil\x1b[2J\u{202e}.zip"], 2);
    assert_terminal_safe("verify bundle", &r.stderr);
    assert!(
        r.stderr.contains("evil\\u{1b}[2J\\u{202e}.zip"),
        "{}",
        r.stderr
    );
    let r = env.fails(&["show", "\x1b[31mEX-\r"], 2);
    assert_terminal_safe("show", &r.stderr);
    let r = env.fails(&["cite", &id, "--format", "\x1b[2Jhtml"], 2);
    assert_terminal_safe("clap usage error", &r.stderr);
}

/// An error that repeats its input repeats at most 200 characters of it and says how long it
/// was; a 120 kB argument never comes back whole.
#[test]
fn echoed_input_is_capped() {
    let env = Env::new();
    let (id, _) = import(&env, "a.html", FIRST, "https://example.org/a", &[]);
    let huge = "x".repeat(120_000);
    let huge_url = format!("https://example.org/{}", "a".repeat(120_000));
    let huge_hex = "ab".repeat(60_000);
    let huge_flag = format!("--{huge}");
    let huge_bad_url = format!("ht tp://{huge}");
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["verify", &huge], 2),
        (vec!["verify", &huge_hex], 2),
        (vec!["show", &huge], 2),
        (vec!["cite", &huge], 2),
        (vec!["cat", &huge], 2),
        (vec!["history", &huge], 2),
        (vec!["diff", &huge], 2),
        (vec!["export", &huge, "--out", "x.zip"], 2),
        (vec!["capture", &huge_bad_url], 2),
        (vec!["check", &huge_bad_url], 2),
        (vec!["history", &huge_url], 3),
        (vec!["cite", &id, "--format", &huge], 2),
        (vec!["list", &huge_flag], 2),
        (vec!["audit", "--subset", &huge], 2),
    ];
    for (args, code) in cases {
        let r = env.run(&args);
        let shown: Vec<String> = args.iter().map(|a| a.chars().take(30).collect()).collect();
        assert_eq!(
            r.code,
            code,
            "{shown:?}: {}",
            &r.stderr[..r.stderr.len().min(500)]
        );
        assert!(
            r.stderr.len() < 2_000 && r.stdout.len() < 2_000,
            "{shown:?} echoed {} bytes",
            r.stderr.len() + r.stdout.len()
        );
        assert!(r.stderr.contains("characters)"), "{shown:?}: {}", r.stderr);
    }
}

/// A closed port: every capture fails at once with "connection refused".
fn closed_port_urls(n: usize) -> Vec<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    (0..n)
        .map(|i| format!("http://127.0.0.1:{port}/page-{i:03}"))
        .collect()
}

/// Many failures: the summary names a count and the first few in input order, in one short
/// line; every failure keeps its own error line, and --json lists every one.
#[test]
fn a_batch_with_many_failures_summarises_them() {
    let env = Env::new();
    let urls = closed_port_urls(60);
    let list = env.dir.path().join("urls.txt");
    std::fs::write(&list, urls.join("\n")).unwrap();
    for cmd in ["capture", "check"] {
        let r = env.fails(&[cmd, "--from", list.to_str().unwrap()], 5);
        let last = r.stderr.lines().last().unwrap();
        assert!(
            last.len() < 400,
            "{cmd}: summary of {} bytes: {last}",
            last.len()
        );
        assert!(last.contains("60 failed: "), "{cmd}: {last}");
        assert!(
            last.contains(&format!(
                "{}, {}, {} and 57 more",
                urls[0], urls[1], urls[2]
            )),
            "{cmd}: {last}"
        );
        assert!(!last.contains(&urls[59]), "{last}");
        assert_eq!(
            r.stderr
                .lines()
                .filter(|l| l.starts_with("error: "))
                .count(),
            60
        );

        let r = env.fails(&[cmd, "--json", "--from", list.to_str().unwrap()], 5);
        let mut failed: Vec<String> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| {
                assert_eq!(v["exit_code"], 5, "{v}");
                v["url"].as_str().unwrap().to_string()
            })
            .collect();
        failed.sort();
        assert_eq!(failed, urls, "{cmd}: --json lists every failure");
    }
}
