//! The capture policy through the real binary: credentials in URLs are never sent or recorded,
//! only public addresses are fetched unless `--allow-private`, proxy environment variables are
//! ignored unless `--proxy` is given (and then it is recorded), and `--redact-header` removes
//! header values before anything is signed. Manifest version 3 carries the new facts, and
//! records of versions 1 and 2 keep verifying.
//!
//! The test servers are on loopback, which the policy refuses by default: tests/common sets
//! EXHIBIT_ALLOW_PRIVATE=1 for every command, and the tests of the policy itself remove it.

mod common;

use common::server::{Route, TestServer};
use common::{assert_one_line_error, files_under, Env};
use std::path::{Path, PathBuf};
use std::process::Command;

const PAGE: &[u8] =
    b"<!doctype html><html><head><title>Terms</title></head><body>Hello</body></html>";
const PASSWORD: &str = "hunter2Secret";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run exhibit with `env` and `vars` changes to the environment of tests/common.
fn run_with(env: &Env, args: &[&str], strict: bool, vars: &[(&str, &str)]) -> Out {
    let mut c = env.command(args);
    if strict {
        c.env_remove("EXHIBIT_ALLOW_PRIVATE");
    }
    for (k, v) in vars {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Without EXHIBIT_ALLOW_PRIVATE: the default policy.
fn strict(env: &Env, args: &[&str]) -> Out {
    run_with(env, args, true, &[])
}

fn expect(o: &Out, code: i32, args: &str) {
    assert_eq!(
        o.code, code,
        "exhibit {args}: wrong exit code\nstdout: {}\nstderr: {}",
        o.stdout, o.stderr
    );
}

fn manifest(env: &Env, id: &str) -> serde_json::Value {
    let path = env
        .archive
        .join("records")
        .join(&id[3..5])
        .join(format!("{id}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every byte exhibit wrote under `dir`, with document blobs decompressed as well, and every
/// member of every zip (bundle) found there: where a secret must never be.
fn everything_written(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for f in files_under(dir) {
        let bytes = std::fs::read(&f).unwrap();
        if f.extension().is_some_and(|e| e == "zst") {
            let plain = zstd::stream::decode_all(&bytes[..]).expect("a document blob decodes");
            out.push((f.with_extension("zst.decoded"), plain));
        }
        if f.extension().is_some_and(|e| e == "zip") {
            let to = tempfile::tempdir().unwrap();
            let st = Command::new("python3")
                .args([
                    "-c",
                    "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
                ])
                .arg(&f)
                .arg(to.path())
                .status()
                .expect("python3 is needed");
            assert!(st.success());
            let members = files_under(to.path());
            assert!(members.len() > 3, "the bundle has too few members");
            for m in members {
                let b = std::fs::read(&m).unwrap();
                out.push((f.join(m.strip_prefix(to.path()).unwrap()), b));
            }
        }
        out.push((f, bytes));
    }
    out
}

fn assert_nowhere(dir: &Path, outputs: &[&Out], secret: &str) {
    for o in outputs {
        assert!(
            !o.stdout.contains(secret),
            "stdout shows {secret}: {}",
            o.stdout
        );
        assert!(
            !o.stderr.contains(secret),
            "stderr shows {secret}: {}",
            o.stderr
        );
    }
    let written = everything_written(dir);
    assert!(!written.is_empty());
    for (path, bytes) in written {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds {secret}",
            path.display()
        );
    }
}

#[test]
fn urls_with_credentials_are_refused_everywhere_and_never_stored() {
    let srv = TestServer::start(vec![("/page", Route::html(PAGE))]);
    let addr = srv.addr();
    let with_pw = format!("http://user:{PASSWORD}@{addr}/page");
    let user_only = format!("http://{PASSWORD}@{addr}/page");
    let mut outputs = Vec::new();

    // A capture that would create the archive creates nothing: no archive, no key.
    let bare = Env::bare();
    let o = strict(&bare, &["capture", "--init", &with_pw]);
    expect(&o, 2, "capture --init URL-with-password");
    assert_one_line_error(&o.stderr, "user name or password");
    assert!(
        o.stderr.contains(&format!("http://{addr}/page")),
        "{}",
        o.stderr
    );
    assert!(
        !bare.archive.exists() && !bare.key.exists(),
        "something was created"
    );
    outputs.push(o);

    let env = Env::new();
    let inputs = tempfile::tempdir().unwrap();
    let list = inputs.path().join("urls.txt");
    std::fs::write(&list, format!("{}\n{user_only}\n", srv.url("/page"))).unwrap();
    let file = inputs.path().join("saved.html");
    std::fs::write(&file, PAGE).unwrap();
    let list_s = list.to_str().unwrap();
    let file_s = file.to_str().unwrap();
    for args in [
        vec!["capture", with_pw.as_str()],
        vec!["capture", "--json", user_only.as_str()],
        // A batch is checked as a whole before anything is fetched.
        vec!["capture", "--from", list_s],
        vec!["import", file_s, "--url", with_pw.as_str()],
        vec![
            "import",
            file_s,
            "--url",
            "https://user:hunter2Secret@example.org/x",
        ],
        vec!["check", with_pw.as_str()],
        vec!["check", "--json", user_only.as_str()],
    ] {
        let o = run_with(&env, &args, false, &[]);
        expect(&o, 2, &args.join(" "));
        assert_one_line_error(&o.stderr, "user name or password");
        outputs.push(o);
    }
    assert_eq!(env.counts(), (0, 0), "a refused URL stored something");
    assert_eq!(srv.hits("/page"), 0, "a URL with credentials was fetched");

    // A redirect to a URL with credentials is a failed fetch, whatever form the Location takes.
    let target = format!("user:{PASSWORD}@{addr}/page");
    for location in [
        format!("http://{target}"),
        format!("//{target}"),
        format!("http://{PASSWORD}@{addr}/page"),
    ] {
        let redirect = TestServer::start(vec![(
            "/go",
            Route::Redirect {
                status: 302,
                location: location.clone(),
            },
        )]);
        let o = run_with(&env, &["capture", &redirect.url("/go")], false, &[]);
        expect(&o, 5, &format!("capture of a redirect to {location}"));
        assert_one_line_error(&o.stderr, "a URL with a user name or password");
        assert_eq!(redirect.hits("/go"), 1);
        outputs.push(o);
    }
    assert_eq!(
        srv.hits("/page"),
        0,
        "a redirect with credentials was followed"
    );
    assert_eq!(env.counts(), (0, 0));

    // A record exported after all this carries no trace either.
    let o = run_with(&env, &["capture", &srv.url("/page")], false, &[]);
    expect(&o, 0, "capture");
    let id = o.stdout.split_whitespace().next().unwrap().to_string();
    outputs.push(o);
    let bundle = env.dir.path().join("bundle.zip");
    let o = run_with(
        &env,
        &["export", &id, "--out", bundle.to_str().unwrap()],
        false,
        &[],
    );
    expect(&o, 0, "export");
    outputs.push(o);
    let o = run_with(&env, &["cite", &id], false, &[]);
    expect(&o, 0, "cite");
    outputs.push(o);
    env.assert_audit_clean();
    let refs: Vec<&Out> = outputs.iter().collect();
    assert_nowhere(env.dir.path(), &refs, PASSWORD);
    assert!(
        files_under(bare.dir.path()).is_empty(),
        "a refused capture wrote files"
    );
}

#[test]
fn check_refuses_an_old_record_whose_url_has_credentials() {
    // Records written before manifest version 3 may hold such a URL; `check ID` must not fetch
    // it or echo it. Such a record is made here the way an old exhibit made it: as a version-2
    // manifest, signed with the archive's key.
    let env = Env::new();
    let file = env.dir.path().join("f.html");
    std::fs::write(&file, PAGE).unwrap();
    let id = env.ok(&[
        "import",
        file.to_str().unwrap(),
        "--url",
        "https://example.org/x",
    ]);
    let id = id.split_whitespace().next().unwrap();
    rewrite_single_record(&env, id, |m| {
        m.replace("exhibit-manifest/3", "exhibit-manifest/2")
            .replace(
                "https://example.org/x",
                &format!("https://user:{PASSWORD}@example.org/x"),
            )
    });
    env.ok(&["verify", id]);
    let o = run_with(&env, &["check", id], false, &[]);
    expect(&o, 2, "check of a record with credentials");
    assert_one_line_error(&o.stderr, &format!("record {id}"));
    assert!(
        !o.stdout.contains(PASSWORD) && !o.stderr.contains(PASSWORD),
        "{}",
        o.stderr
    );
}

#[test]
fn private_and_local_addresses_are_refused_unless_allowed() {
    let srv = TestServer::start(vec![("/page", Route::html(PAGE))]);
    let port = srv.addr().port();
    let env = Env::new();
    for (url, names) in [
        // An IP literal: checked directly, the HTTP library does not resolve it.
        (srv.url("/page"), "127.0.0.1 is a loopback address"),
        // A name: checked by the resolver, on the addresses it resolves to.
        (
            format!("http://localhost:{port}/page"),
            "localhost resolves",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/page"),
            "::ffff:127.0.0.1 is a loopback address",
        ),
        // Connecting to 0.0.0.0 reaches this machine.
        (
            format!("http://0.0.0.0:{port}/page"),
            "0.0.0.0 is an unspecified",
        ),
        (
            format!("http://2130706433:{port}/page"),
            "127.0.0.1 is a loopback address",
        ),
    ] {
        for cmd in ["capture", "check"] {
            let o = strict(&env, &[cmd, &url]);
            expect(&o, 5, &format!("{cmd} {url}"));
            assert_one_line_error(&o.stderr, names);
            let line = o.stderr.lines().find(|l| l.starts_with("error:")).unwrap();
            assert!(line.contains("--allow-private"), "{line}");
        }
        // A falsy value of the variable is no permission either.
        let o = run_with(
            &env,
            &["capture", &url],
            true,
            &[("EXHIBIT_ALLOW_PRIVATE", "0")],
        );
        expect(
            &o,
            5,
            &format!("capture {url} with EXHIBIT_ALLOW_PRIVATE=0"),
        );
    }
    assert_eq!(srv.hits("/page"), 0, "a refused address was connected to");
    assert_eq!(env.counts(), (0, 0));

    // With the flag (or the variable) they work.
    for url in [srv.url("/page"), format!("http://localhost:{port}/page")] {
        let o = strict(&env, &["capture", "--allow-private", &url]);
        expect(&o, 0, &format!("capture --allow-private {url}"));
        let o = strict(&env, &["check", "--allow-private", &url]);
        expect(&o, 0, &format!("check --allow-private {url}"));
        let o = run_with(
            &env,
            &["capture", &url],
            true,
            &[("EXHIBIT_ALLOW_PRIVATE", "1")],
        );
        expect(
            &o,
            0,
            &format!("capture {url} with EXHIBIT_ALLOW_PRIVATE=1"),
        );
    }
    env.assert_audit_clean();
}

#[test]
fn a_redirect_from_a_public_name_to_a_local_address_is_refused() {
    // The first hop must look public; on a machine without outside network the only way is a
    // proxy, which resolves names itself (so exhibit lets the name through) while every hop's
    // IP-literal and localhost host is still checked by exhibit. The "proxy" is a loopback server
    // that answers the absolute-form requests.
    let srv = TestServer::start(vec![
        ("/secret", Route::html("internal admin page")),
        ("/page", Route::html(PAGE)),
    ]);
    let port = srv.addr().port();
    let env = Env::new();
    for (i, location) in [
        format!("http://127.0.0.1:{port}/secret"),
        format!("http://[::1]:{port}/secret"),
        format!("http://localhost:{port}/secret"),
        format!("http://169.254.169.254:{port}/secret"),
    ]
    .iter()
    .enumerate()
    {
        let path = format!("/start{i}");
        let hop = common::serve_owned(vec![(
            path.clone(),
            Route::Redirect {
                status: 302,
                location: location.clone(),
            },
        )]);
        let hop_proxy = format!("http://127.0.0.1:{}", hop.addr().port());
        let start = format!("http://public.example{path}");
        let o = strict(&env, &["capture", &start, "--proxy", &hop_proxy]);
        expect(&o, 5, &format!("capture {start} redirecting to {location}"));
        assert_eq!(hop.hits(&path), 1, "the public first hop was not fetched");
        assert_one_line_error(
            &o.stderr,
            &format!("refusing the redirect from {start} to http://"),
        );
        let line = o.stderr.lines().find(|l| l.starts_with("error:")).unwrap();
        assert!(line.contains("--allow-private"), "{line}");
    }
    assert_eq!(srv.hits("/secret"), 0, "the local target was fetched");
    assert_eq!(env.counts(), (0, 0));

    // Allowed, the same chain is followed to the end (through the proxy, which serves /page too).
    let hop = TestServer::start(vec![
        (
            "/start",
            Route::Redirect {
                status: 302,
                location: format!("http://127.0.0.1:{port}/page"),
            },
        ),
        ("/page", Route::html(PAGE)),
    ]);
    let hop_proxy = format!("http://127.0.0.1:{}", hop.addr().port());
    let o = strict(
        &env,
        &[
            "capture",
            "--json",
            "--allow-private",
            "http://public.example/start",
            "--proxy",
            &hop_proxy,
        ],
    );
    expect(&o, 0, "allowed redirect to loopback");
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(v["final_url"], format!("http://127.0.0.1:{port}/page"));
    assert_eq!(hop.hits("/page"), 1);
}

#[test]
fn proxy_environment_variables_are_ignored() {
    // A "proxy" that answers everything: without the fix, a capture of a host that does not
    // exist went to it and verified.
    let srv = TestServer::start(vec![("/page", Route::html(PAGE))]);
    let proxy = format!("http://127.0.0.1:{}", srv.addr().port());
    let vars: Vec<(&str, &str)> = [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ]
    .iter()
    .map(|k| (*k, proxy.as_str()))
    .collect();
    let env = Env::new();
    for url in [
        "http://nonexistent.invalid/page",
        "https://nonexistent.invalid/page",
    ] {
        let o = run_with(&env, &["capture", url], false, &vars);
        expect(&o, 5, &format!("capture {url} with proxy variables set"));
        assert_one_line_error(&o.stderr, "nonexistent.invalid");
        let o = run_with(&env, &["check", url], false, &vars);
        expect(&o, 5, &format!("check {url} with proxy variables set"));
    }
    assert_eq!(srv.hits("/page"), 0, "the environment's proxy was used");
    assert_eq!(env.counts(), (0, 0));

    // Given explicitly, the proxy is used and recorded; the address policy still applies to the
    // proxy's answers but not to the proxy itself, which the user chose.
    let o = strict(
        &env,
        &[
            "capture",
            "http://nonexistent.invalid/page",
            "--proxy",
            &proxy,
        ],
    );
    expect(&o, 0, "capture through --proxy");
    let id = o.stdout.split_whitespace().next().unwrap().to_string();
    let m = manifest(&env, &id);
    assert_eq!(m["format"], "exhibit-manifest/3");
    assert_eq!(m["http"]["proxy"], format!("{proxy}/"));
    assert_eq!(m["http"]["remote_addr"], srv.addr().to_string());
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains(&format!("Via proxy:    {proxy}/")),
        "{shown}"
    );
    env.ok(&["verify", &id]);
    let o = strict(
        &env,
        &[
            "check",
            "http://nonexistent.invalid/page",
            "--proxy",
            &proxy,
        ],
    );
    expect(&o, 0, "check through --proxy");
    assert_eq!(srv.hits("/page"), 2);

    // A proxy URL with credentials is refused before anything happens, and not echoed.
    for bad in [
        format!("http://user:{PASSWORD}@127.0.0.1:{}", srv.addr().port()),
        "socks5://127.0.0.1:1080".to_string(),
        "not a url".to_string(),
    ] {
        let bare = Env::bare();
        let o = run_with(
            &bare,
            &["capture", "--init", "http://example.org/", "--proxy", &bad],
            false,
            &[],
        );
        expect(&o, 2, &format!("--proxy {bad}"));
        assert_one_line_error(&o.stderr, "--proxy");
        assert!(!o.stderr.contains(PASSWORD), "{}", o.stderr);
        assert!(!bare.archive.exists());
    }
    env.assert_audit_clean();
}

#[test]
fn redacted_headers_are_replaced_in_every_hop_before_signing() {
    let env = Env::new();
    let srv = TestServer::start(vec![
        (
            "/final",
            Route::Status {
                status: 200,
                reason: "OK",
                content_type: "text/html",
                body: PAGE.to_vec(),
                headers: vec![
                    (
                        "Set-Cookie".into(),
                        b"session=FinalCookieSecret; HttpOnly".to_vec(),
                    ),
                    ("Set-Cookie".into(), b"second=FinalCookieSecret2".to_vec()),
                    ("X-Token".into(), b"\xffBinaryTokenSecret".to_vec()),
                    ("X-Kept".into(), b"visible".to_vec()),
                ],
            },
        ),
        (
            "/hop",
            Route::Status {
                status: 302,
                reason: "Found",
                content_type: "",
                body: Vec::new(),
                headers: vec![
                    ("Location".into(), b"/final".to_vec()),
                    ("Set-Cookie".into(), b"hop=HopCookieSecret".to_vec()),
                ],
            },
        ),
    ]);
    // Without redaction, cookies are recorded: that is documented, and what the flag is for.
    let v = env.capture(&srv.url("/hop"), &[]);
    let m = manifest(&env, v["record_id"].as_str().unwrap());
    assert!(m.to_string().contains("FinalCookieSecret"), "{m}");
    assert!(m["http"].get("redacted_headers").is_none());
    // ... and the search below finds such a value in the archive and inside a bundle (a control:
    // the absence checks later would prove nothing if the search could not see it).
    let plain_bundle = env.dir.path().join("plain.zip");
    env.ok(&[
        "export",
        v["record_id"].as_str().unwrap(),
        "--out",
        plain_bundle.to_str().unwrap(),
    ]);
    let found: Vec<PathBuf> = everything_written(env.dir.path())
        .into_iter()
        .filter(|(_, b)| b.windows(17).any(|w| w == b"FinalCookieSecret"))
        .map(|(p, _)| p)
        .collect();
    assert!(
        found.iter().any(|p| p.starts_with(&env.archive)),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with(plain_bundle.join("records"))),
        "{found:?}"
    );

    let redacted = Env::new();
    let o = run_with(
        &redacted,
        &[
            "capture",
            "--json",
            &srv.url("/hop"),
            "--redact-header",
            "SET-COOKIE",
            "--redact-header",
            "x-token",
            "--redact-header",
            "set-cookie",
        ],
        false,
        &[],
    );
    expect(&o, 0, "capture --redact-header");
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    let id = v["record_id"].as_str().unwrap().to_string();
    let m = manifest(&redacted, &id);
    assert_eq!(m["format"], "exhibit-manifest/3");
    assert_eq!(
        m["http"]["redacted_headers"],
        serde_json::json!(["set-cookie", "x-token"])
    );
    let headers = |h: &serde_json::Value| -> Vec<(String, String)> {
        h["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["name"].as_str().unwrap().to_string(),
                    x.get("value")
                        .map_or("<base64>".into(), |v| v.as_str().unwrap().to_string()),
                )
            })
            .collect()
    };
    let hop = headers(&m["http"]["redirects"][0]["response"]);
    let fin = headers(&m["http"]["response"]);
    assert!(
        hop.contains(&("set-cookie".into(), "[redacted]".into())),
        "{hop:?}"
    );
    assert!(
        hop.contains(&("location".into(), "/final".into())),
        "{hop:?}"
    );
    assert_eq!(
        fin.iter()
            .filter(|(n, v)| n == "set-cookie" && v == "[redacted]")
            .count(),
        2,
        "{fin:?}"
    );
    assert!(
        fin.contains(&("x-token".into(), "[redacted]".into())),
        "{fin:?}"
    );
    assert!(
        fin.contains(&("x-kept".into(), "visible".into())),
        "{fin:?}"
    );
    let shown = redacted.ok(&["show", &id]);
    assert!(
        shown.contains("Redacted:     set-cookie, x-token"),
        "{shown}"
    );

    // check redacts the same way.
    let o = run_with(
        &redacted,
        &[
            "check",
            &srv.url("/hop"),
            "--redact-header",
            "set-cookie",
            "--redact-header",
            "x-token",
        ],
        false,
        &[],
    );
    expect(&o, 0, "check --redact-header");
    redacted.ok(&["verify", &id]);
    redacted.assert_audit_clean();
    let bundle = redacted.dir.path().join("b.zip");
    redacted.ok(&["export", &id, "--out", bundle.to_str().unwrap()]);
    let outs = [&o];
    for secret in ["FinalCookieSecret", "HopCookieSecret", "BinaryTokenSecret"] {
        assert_nowhere(redacted.dir.path(), &outs, secret);
    }

    // Headers whose value the manifest records elsewhere, and non-names, are refused.
    for bad in [
        "location",
        "Host",
        "content-type",
        "content-encoding",
        "set-cookie:",
        "",
    ] {
        let o = run_with(
            &redacted,
            &["capture", &srv.url("/final"), "--redact-header", bad],
            false,
            &[],
        );
        expect(&o, 2, &format!("--redact-header {bad:?}"));
        assert_one_line_error(&o.stderr, "--redact-header");
        let o = run_with(
            &redacted,
            &["check", &srv.url("/final"), "--redact-header", bad],
            false,
            &[],
        );
        expect(&o, 2, &format!("check --redact-header {bad:?}"));
    }
}

/// Replace the only record of `env`'s archive with `f(manifest text)`, re-signed with the
/// archive's key, and rebuild the one-leaf log around it, as an older exhibit would have
/// written it.
fn rewrite_single_record(env: &Env, id: &str, f: impl Fn(&str) -> String) {
    let key = exhibit::keys::load(&env.key).unwrap();
    let dir = env.archive.join("records").join(&id[3..5]);
    let text = std::fs::read_to_string(dir.join(format!("{id}.json"))).unwrap();
    let new = f(&text);
    assert_ne!(new, text);
    std::fs::write(dir.join(format!("{id}.json")), &new).unwrap();
    std::fs::write(
        dir.join(format!("{id}.sig")),
        exhibit::keys::sign(&key, new.as_bytes()),
    )
    .unwrap();
    common::reseal(env);
}

#[test]
fn manifest_versions_1_and_2_still_verify_and_cannot_carry_version_3_fields() {
    let srv = TestServer::start(vec![("/page", Route::html(PAGE))]);
    for old in ["exhibit-manifest/1", "exhibit-manifest/2"] {
        let env = Env::new();
        let v = env.capture(&srv.url("/page"), &[]);
        let id = v["record_id"].as_str().unwrap().to_string();
        rewrite_single_record(&env, &id, |m| {
            let m = m.replace("exhibit-manifest/3", old);
            // Version 1 had no text fingerprint.
            match m.find(",\"text_fingerprint\":\"sha256:") {
                Some(i) if old.ends_with('1') => format!("{}{}", &m[..i], &m[i + 93..]),
                _ => m,
            }
        });
        assert!(manifest(&env, &id)["format"] == old);
        let out = env.ok(&["verify", &id]);
        assert!(out.contains(&id), "{out}");
        env.assert_audit_clean();

        // The same record claiming a version-3 field is malformed, even correctly signed.
        let env2 = Env::new();
        let v = env2.capture(&srv.url("/page"), &[]);
        let id2 = v["record_id"].as_str().unwrap().to_string();
        rewrite_single_record(&env2, &id2, |m| {
            m.replace("exhibit-manifest/3", "exhibit-manifest/2")
                .replace(
                    "\"remote_addr\":",
                    "\"proxy\":\"http://127.0.0.1:1/\",\"remote_addr\":",
                )
        });
        // (serde keeps field order on parse; the reader rejects it before order matters.)
        let r = env2.run(&["verify", &id2]);
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("version-3") || r.stderr.contains("version-3"),
            "{}{}",
            r.stdout,
            r.stderr
        );
    }
}

/// A URL with credentials pasted into a read command is refused as capture refuses it (exit 2,
/// shown without them), on every command that takes a record, a hash or a URL, in text and JSON;
/// text that only looks like one has whatever could be a password masked.
#[test]
fn read_commands_refuse_urls_with_credentials_and_never_echo_them() {
    let srv = TestServer::start(vec![("/page", Route::html(PAGE))]);
    let env = Env::new();
    let captured = env.capture(&srv.url("/page"), &[]);
    let id = captured["record_id"].as_str().unwrap();
    let https = format!("https://alice:{PASSWORD}@example.com/");
    let user_only = format!("https://{PASSWORD}@example.com/terms");
    let bundle = format!("https://alice:{PASSWORD}@example.com/a.zip");
    let mut outputs = Vec::new();
    for target in [&https, &user_only] {
        for args in [
            vec!["show", target],
            vec!["show", "--json", target],
            vec!["cite", target],
            vec!["cite", "--format", "json", target],
            vec!["verify", target],
            vec!["verify", "--json", target],
            vec!["verify", "--json", id, target],
            vec!["verify", "--file", "/dev/null", target],
            vec!["diff", target],
            vec!["history", target],
            vec!["list", "--url", target],
            vec!["cat", target],
            vec!["prove", target],
            vec!["export", target, "--out", "x.zip"],
        ] {
            let o = strict(&env, &args);
            expect(&o, 2, &args.join(" "));
            let error = o
                .stderr
                .lines()
                .chain(o.stdout.lines())
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                error.contains("user name or password"),
                "exhibit {args:?} does not say why: {error}"
            );
            assert!(error.contains("example.com"), "{error}");
            outputs.push(o);
        }
    }
    let o = strict(&env, &["verify", &bundle]);
    expect(&o, 2, "verify BUNDLE-URL");
    outputs.push(o);
    // Not a URL, but it could hold one's password: masked, not echoed.
    let o = strict(&env, &["show", &format!("alice:{PASSWORD}@example.com")]);
    expect(&o, 2, "show alice:PASSWORD@example.com");
    outputs.push(o);
    let refs: Vec<&Out> = outputs.iter().collect();
    assert_nowhere(&env.archive, &refs, PASSWORD);
}
