//! Change history through the real binary: `check` against pages that change, pages that only
//! change noise, and pages that do not change; `history` and `diff` report exactly what moved.

mod common;

use common::server::{Route, TestServer};
use common::Env;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn policy(days: &str, extra: &str) -> Vec<u8> {
    format!(
        "<!doctype html><html><head><title>Privacy Notice</title></head><body>\
         <nav>Home | About</nav><h1>Privacy Notice</h1>\
         <p>We keep your data for {days} days.</p>{extra}<p>Contact privacy@example.org.</p></body></html>"
    )
    .into_bytes()
}

fn noisy(nonce: &str, time: &str) -> Vec<u8> {
    format!(
        "<!doctype html><html><head><title>Terms</title><script nonce=\"{nonce}\">var t=\"{nonce}\";</script>\
         <meta name=\"csrf-token\" content=\"{nonce}\"></head><body>\
         <form><input type=\"hidden\" name=\"csrf\" value=\"{nonce}\"></form>\
         <p>These terms apply to everyone.</p><p>Generated at {time}</p></body></html>"
    )
    .into_bytes()
}

/// The `change` of each version in a `history --json` answer.
fn change_kinds(h: &serde_json::Value) -> Vec<&str> {
    h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["change"].as_str().unwrap())
        .collect()
}

fn check_json(env: &Env, target: &str, code: i32) -> serde_json::Value {
    let r = env.run(&["check", "--json", target]);
    assert_eq!(r.code, code, "check {target}: {}\n{}", r.stdout, r.stderr);
    serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap()
}

#[test]
fn changes_noise_and_repeats_are_told_apart() {
    let srv = TestServer::start(vec![
        (
            "/policy",
            Route::Sequence {
                content_type: "text/html",
                bodies: vec![
                    policy("30", ""),
                    policy("30", ""),
                    policy("30", ""),
                    policy("60", "<p>We share data with partners.</p>"),
                ],
            },
        ),
        (
            "/terms",
            Route::Sequence {
                content_type: "text/html",
                bodies: vec![
                    noisy("9f8e7d6c5b4a39281706f5e4", "12:03:44"),
                    noisy("0a1b2c3d4e5f60718293a4b5", "12:07:02"),
                    noisy("ffeeddccbbaa998877665544", "13:00:59"),
                ],
            },
        ),
    ]);
    let env = Env::new();
    let policy_url = srv.url("/policy");
    let first = env.capture(
        &policy_url,
        &["--entity", "Example", "--document", "Privacy Notice"],
    );
    let (docs, _) = env.counts();

    // Unchanged twice: two signed, logged events, no new document.
    let a = check_json(&env, &policy_url, 0);
    assert_eq!(a["outcome"], "unchanged");
    assert_eq!(a["method"], "check");
    assert_eq!(a["previous"], first["record_id"]);
    let b = check_json(&env, first["record_id"].as_str().unwrap(), 0);
    assert_eq!(b["outcome"], "unchanged");
    assert_eq!(env.counts().0, docs, "an unchanged check stored a document");
    env.ok(&["verify", a["record_id"].as_str().unwrap()]);
    // The cited hash still names the original capture, though three records now cite it.
    let cite = env.run(&["cite", &first["sha256"].as_str().unwrap()[..16]]);
    assert_eq!(cite.code, 0, "{}", cite.stderr);
    assert!(
        cite.stdout.contains(first["record_id"].as_str().unwrap()),
        "{}",
        cite.stdout
    );
    assert!(
        cite.stderr.contains("3 records cite this document"),
        "{}",
        cite.stderr
    );

    // A real change: new record, exit 8, and the diff says exactly what changed.
    let c = check_json(&env, &policy_url, 8);
    assert_eq!(c["outcome"], "changed");
    assert_eq!(env.counts().0, docs + 1);
    let d: serde_json::Value = serde_json::from_str(&env.ok(&[
        "diff",
        first["record_id"].as_str().unwrap(),
        c["record_id"].as_str().unwrap(),
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(d["diff"]["removed_words"], 1, "{d:#}");
    assert_eq!(d["diff"]["added_words"], 1 + 5, "{d:#}"); // "60" and "We share data with partners."
    let text = env.ok(&[
        "diff",
        first["record_id"].as_str().unwrap(),
        c["record_id"].as_str().unwrap(),
    ]);
    assert!(text.contains("[-30-]") && text.contains("{+60+}"), "{text}");
    assert!(text.contains("We share data with partners."), "{text}");
    let html = env.ok(&[
        "diff",
        first["record_id"].as_str().unwrap(),
        c["record_id"].as_str().unwrap(),
        "--format",
        "html",
    ]);
    assert!(
        html.contains("<ins") && html.contains("<del") && !html.contains("<script"),
        "{html}"
    );

    // Noise only (nonce, CSRF token, clock time): new bytes are kept, but the check is unchanged.
    let terms_url = srv.url("/terms");
    let t0 = env.capture(&terms_url, &[]);
    let t1 = check_json(&env, &terms_url, 0);
    assert_eq!(t1["outcome"], "bytes-changed");
    assert_ne!(t1["sha256"], t0["sha256"]);
    assert_eq!(t1["text_fingerprint"], t0["text_fingerprint"]);
    let t2 = check_json(&env, &terms_url, 0);
    assert_eq!(t2["outcome"], "bytes-changed");

    // History of the policy: first tracked, last verified, versions and recent changes.
    let h: serde_json::Value =
        serde_json::from_str(&env.ok(&["history", &policy_url, "--json"])).unwrap();
    let kinds = change_kinds(&h);
    assert_eq!(kinds, ["new", "unchanged", "unchanged", "changed"]);
    assert_eq!(h["first_tracked"], first["captured_at"]);
    assert_eq!(h["last_verified"], c["captured_at"]);
    assert_eq!(h["changes_last_30_days"], 1);
    assert_eq!(h["versions_count"], 2);
    let h: serde_json::Value =
        serde_json::from_str(&env.ok(&["history", &terms_url, "--json"])).unwrap();
    let kinds = change_kinds(&h);
    assert_eq!(kinds, ["new", "bytes-changed", "bytes-changed"]);
    assert_eq!(h["changes_last_30_days"], 0);

    // Events are signed and logged like records.
    env.assert_audit_clean();
    // A URL never captured is not found; a failed fetch has its own code.
    env.fails(&["history", "https://example.org/never"], 3);
    let r = env.fails(&["check", &srv.url("/missing")], 5);
    assert!(r.stderr.contains("404"), "{}", r.stderr);
}

#[test]
fn thousand_url_check_runs_in_parallel_and_shows_progress_on_a_terminal() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (f, m, fst) = (in_flight.clone(), most.clone(), first.clone());
    let slow = Route::Custom(Arc::new(move |req, stream| {
        let now = f.fetch_add(1, Ordering::SeqCst) + 1;
        m.fetch_max(now, Ordering::SeqCst);
        // The first request is answered only once a second one is in flight beside it (or
        // after 20 s): parallel fetches then overlap however slowly a loaded machine starts
        // them, and fetches made one at a time still never do.
        if fst.swap(false, Ordering::SeqCst) {
            let t = std::time::Instant::now();
            while m.load(Ordering::SeqCst) < 2 && t.elapsed() < std::time::Duration::from_secs(20) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        let body = format!("page {}", req.path);
        let _ = common::server::write_response(
            stream,
            200,
            &[("Content-Type", b"text/plain")],
            body.as_bytes(),
        );
        f.fetch_sub(1, Ordering::SeqCst);
    }));
    let paths: Vec<String> = (0..1000).map(|i| format!("/u{i}")).collect();
    let srv = TestServer::start(paths.iter().map(|p| (p.as_str(), slow.clone())).collect());
    let env = Env::new();
    let list = env.dir.path().join("urls.txt");
    std::fs::write(
        &list,
        paths
            .iter()
            .map(|p| srv.url(p))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let r = env.run(&["check", "--from", list.to_str().unwrap(), "--jobs", "8"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("checked 1000 URLs"), "{}", r.stderr);
    assert!(most.load(Ordering::SeqCst) > 1, "fetches never overlapped");
    // Not a terminal: no progress bar in the captured stderr.
    assert!(!r.stderr.contains("eta"), "{}", r.stderr);
    // On a terminal (script gives it a pseudo-terminal), the progress bar is drawn.
    let cmd = format!(
        "{} check --from {} --jobs 8 > /dev/null",
        common::bin(),
        list.display()
    );
    let tty = std::process::Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .env("EXHIBIT_ARCHIVE", &env.archive)
        .env("EXHIBIT_KEY", &env.key)
        // The server is on loopback, which check refuses unless asked (as in tests/common).
        .env("EXHIBIT_ALLOW_PRIVATE", "1")
        .output()
        .expect("script (util-linux) is needed for the terminal test");
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{shown}");
    assert!(
        shown.contains("check [") && shown.contains("/1000"),
        "no progress bar on a terminal: {shown}"
    );
    env.assert_audit_clean();
}

/// "Last verified" is read from the records' manifests, so history verifies each record first,
/// as show and cite do: a manifest whose date was edited is refused, never shown as the day
/// the page was last verified.
#[test]
fn history_shows_no_date_from_a_record_that_does_not_verify() {
    let srv = TestServer::start(vec![("/v", Route::html(b"<p>v</p>".to_vec()))]);
    let env = Env::bare();
    env.ok(&["init", "--layout", "loose"]);
    let first = env.capture(&srv.url("/v"), &[]);
    let last = env.capture(&srv.url("/v"), &[]);
    let out = env.ok(&["history", &srv.url("/v")]);
    assert!(out.contains("Last verified:"), "{out}");

    let id = last["record_id"].as_str().unwrap();
    let manifest = env
        .archive
        .join("records")
        .join(&id[3..5])
        .join(format!("{id}.json"));
    let text = std::fs::read_to_string(&manifest).unwrap();
    let captured_at = last["captured_at"].as_str().unwrap();
    assert!(text.contains(captured_at), "{text}");
    std::fs::write(&manifest, text.replace(captured_at, "2027-06-01T00:00:00Z")).unwrap();
    let r = env.fails(&["history", &srv.url("/v")], 1);
    assert!(
        r.stderr.contains(&format!("record {id} does NOT verify")),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("2027"), "{}", r.stdout);
    let r = env.fails(&["history", "--json", &srv.url("/v")], 1);
    assert!(r.stdout.is_empty(), "{}", r.stdout);

    // Under a pinned key that signed none of them, no record verifies.
    let other = Env::new();
    let pin = format!("{}.pub", other.key.display());
    env.fails(
        &[
            "history",
            first["record_id"].as_str().unwrap(),
            "--trusted-key",
            &pin,
        ],
        1,
    );
}
