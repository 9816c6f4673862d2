//! `exhibit capture --browser` through the real binary against loopback servers: one signed
//! record per page whose parts (every exchange's body, the screenshot, the PDF and the DOM) are
//! stored documents, verified and audited with the record, and extracted by `cat --part`.
//!
//! Needs Chromium (`apt-get install --no-install-recommends chromium`) and qpdf. With
//! `EXHIBIT_SKIP_BROWSER=1` every test here is skipped with a loud message; without it a missing
//! Chromium fails the tests.

mod common;

use common::server::{Route, TestServer};
use common::{sha256_hex, Env};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// One Chromium at a time: the tests share two cores with everything else.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn skip() -> bool {
    if std::env::var_os("EXHIBIT_SKIP_BROWSER").is_some_and(|v| v == "1") {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            use std::io::Write;
            let _ = std::io::stderr().write_all(
                b"\n!!! SKIPPED: EXHIBIT_SKIP_BROWSER=1, browser capture was NOT tested !!!\n\n",
            );
        });
        return true;
    }
    false
}

const BLOCK: [u8; 3] = [255, 0, 128];

/// A small real PNG: 4x4 pixels of one colour.
fn tiny_png(rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 4, 4);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(&rgb.repeat(16)).unwrap();
    drop(w);
    out
}

/// Some font file the system has (Chromium's package pulls in fonts).
fn a_font() -> Vec<u8> {
    fn find(dir: &std::path::Path) -> Option<PathBuf> {
        let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                if let Some(f) = find(&p) {
                    return Some(f);
                }
            } else if p.extension().is_some_and(|x| x == "ttf" || x == "otf") {
                return Some(p);
            }
        }
        None
    }
    let p = find(std::path::Path::new("/usr/share/fonts")).expect("a font under /usr/share/fonts");
    std::fs::read(p).unwrap()
}

/// RGB pixels of a PNG: (width, height, pixels).
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a valid PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a valid PNG frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let px = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, px)
}

fn qpdf_check(pdf: &[u8]) {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("page.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("qpdf")
        .arg("--check")
        .arg(&path)
        .output()
        .expect("qpdf (apt-get install qpdf)");
    assert!(
        out.status.success(),
        "qpdf --check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `exhibit cat ID [--part P]` as bytes.
fn cat(env: &Env, id: &str, part: Option<&str>) -> Vec<u8> {
    let mut args = vec!["cat", id];
    if let Some(p) = part {
        args.extend(["--part", p]);
    }
    let out = env.command(&args).output().unwrap();
    assert!(
        out.status.success(),
        "cat {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The manifest of a record, as `show --json` gives it (with its verification).
fn manifest(env: &Env, id: &str) -> Value {
    serde_json::from_str(&env.ok(&["show", "--json", id])).unwrap()
}

fn exchange<'a>(m: &'a Value, url: &str) -> &'a Value {
    m["browser"]["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["url"] == url)
        .unwrap_or_else(|| panic!("no exchange for {url}: {:#}", m["browser"]["exchanges"]))
}

fn blob_path(env: &Env, sha: &str) -> PathBuf {
    env.archive
        .join("documents")
        .join(&sha[..2])
        .join(format!("{sha}.zst"))
}

struct Fixture {
    main: TestServer,
    other: TestServer,
    served: Vec<(String, Vec<u8>)>,
}

/// The fixture of issue 10: text inserted by a script from a JSON fetch, an external CSS file
/// that draws a colour block below the first screen, an image and a web font from a second
/// origin, a 404 and a stylesheet that never answers.
fn fixture() -> Fixture {
    let img = tiny_png([0, 200, 0]);
    let font = a_font();
    let other = TestServer::start(vec![
        (
            "/img.png",
            Route::Ok {
                content_type: "image/png",
                body: img.clone(),
            },
        ),
        (
            "/font.ttf",
            Route::Status {
                status: 200,
                reason: "OK",
                content_type: "font/ttf",
                body: font.clone(),
                headers: vec![("Access-Control-Allow-Origin".into(), b"*".to_vec())],
            },
        ),
    ]);
    let css = format!(
        "@font-face {{ font-family: Fixture; src: url({}); }}\n\
         body {{ margin: 0; font-family: Fixture, sans-serif; }}\n\
         #spacer {{ height: 2000px; }}\n\
         #block {{ width: 400px; height: 300px; background: rgb(255, 0, 128); }}\n",
        other.url("/font.ttf")
    );
    // The script holds `/hold` open until its last handler has written to the DOM and fetched
    // `/settled`: the capture cannot settle (and snapshot) between the font's arrival and the
    // handlers that write what the test looks for, which under load can take longer than the
    // quiet window. (The hold starts once /slow.css has failed, and has the capture's
    // per-request --timeout for handlers that take milliseconds.)
    let js = "const held = fetch('/hold');\n\
              fetch('/data.json').then(r => r.json()).then(d => {\n\
                const p = document.createElement('p');\n\
                p.id = 'inserted'; p.textContent = d.text;\n\
                document.body.prepend(p);\n\
                return document.fonts.load('16px Fixture');\n\
              }).then(f => document.body.dataset.font = f.length ? 'loaded' : 'missing')\n\
                .finally(() => fetch('/settled'));";
    let page = format!(
        "<!DOCTYPE html><html><head><title>Fixture page</title>\
         <link rel=stylesheet href=/style.css><link rel=stylesheet href=/slow.css></head>\
         <body><div id=spacer></div><div id=block></div><img src={}>\
         <img src=/missing.png><script src=/app.js></script></body></html>",
        other.url("/img.png")
    );
    let json = br#"{"text": "Inserted by script: 42"}"#.to_vec();
    let [hold, settled] = Route::hold_until_settled(std::time::Duration::from_secs(20));
    let main = TestServer::start(vec![
        hold,
        settled,
        ("/", Route::html(page.clone())),
        (
            "/style.css",
            Route::Ok {
                content_type: "text/css",
                body: css.clone().into_bytes(),
            },
        ),
        ("/slow.css", Route::Hang),
        (
            "/app.js",
            Route::Ok {
                content_type: "text/javascript",
                body: js.as_bytes().to_vec(),
            },
        ),
        (
            "/data.json",
            Route::Ok {
                content_type: "application/json",
                body: json.clone(),
            },
        ),
        (
            "/missing.png",
            Route::Status {
                status: 404,
                reason: "Not Found",
                content_type: "text/plain",
                body: b"no such image\n".to_vec(),
                headers: vec![],
            },
        ),
    ]);
    let served = vec![
        (main.url("/"), page.into_bytes()),
        (main.url("/style.css"), css.into_bytes()),
        (main.url("/app.js"), js.as_bytes().to_vec()),
        (main.url("/data.json"), json),
        (other.url("/img.png"), img),
        (other.url("/font.ttf"), font),
    ];
    Fixture {
        main,
        other,
        served,
    }
}

/// Capture `url` with the browser; returns the JSON line and stderr.
fn browser_capture(env: &Env, url: &str) -> (Value, String) {
    browser_capture_with(env, url, &[])
}

/// [`browser_capture`] with more options.
fn browser_capture_with(env: &Env, url: &str, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["capture", "--browser", "--json", "--timeout", "4"];
    args.extend_from_slice(extra);
    args.push(url);
    let r = env.run(&args);
    assert_eq!(r.code, 0, "capture failed: {}{}", r.stdout, r.stderr);
    let line = serde_json::from_str(r.stdout.lines().next().expect("a JSON line")).unwrap();
    (line, r.stderr)
}

fn audit_errors(env: &Env, extra: &[&str]) -> (i32, Value) {
    env.audit(extra)
}

#[test]
fn fixture_page_becomes_one_record_with_every_part() {
    if skip() {
        return;
    }
    let _one = serial();
    let fx = fixture();
    let env = Env::new();
    let (line, stderr) = browser_capture(&env, &fx.main.url("/"));
    let id = line["record_id"].as_str().unwrap().to_string();
    assert_eq!(line["status"], 200, "{line:#}");
    assert_eq!(
        fx.main.hits("/settled"),
        1,
        "the page's handlers never finished"
    );

    // The capture succeeded and says which resources failed.
    let failed: Vec<&str> = line["browser"]["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["url"].as_str().unwrap())
        .collect();
    assert!(
        failed.contains(&fx.main.url("/missing.png").as_str()),
        "{line:#}"
    );
    assert!(
        failed.contains(&fx.main.url("/slow.css").as_str()),
        "{line:#}"
    );
    assert!(
        stderr.contains("warning:") && stderr.contains("resources failed"),
        "{stderr}"
    );
    assert!(stderr.contains("/slow.css (timeout"), "{stderr}");

    // One record, version 5, citing the main document's exact bytes.
    let m = manifest(&env, &id);
    assert_eq!(m["verification"]["ok"], true, "{m:#}");
    assert_eq!(m["format"], "exhibit-manifest/5");
    assert_eq!(m["method"], "capture");
    assert!(m.get("http").is_none());
    assert_eq!(m["document"]["sha256"], sha256_hex(&fx.served[0].1));
    assert_eq!(cat(&env, &id, None), fx.served[0].1);
    let b = &m["browser"];
    assert_eq!(b["software"]["name"], "Chromium");
    assert!(!b["software"]["version"].as_str().unwrap().is_empty());
    assert_eq!(b["viewport"]["width"], 1280);
    assert_eq!(b["title"], "Fixture page");
    assert_eq!(b["final_url"], fx.main.url("/"));
    assert!(b["user_agent"].as_str().unwrap().contains("Chrome"));

    // Every exchange the servers answered, with the hash and size of exactly what they served,
    // and each body extracted by `cat --part URL` is those bytes.
    for (url, bytes) in &fx.served {
        let e = exchange(&m, url);
        assert_eq!(e["failed"], false, "{e:#}");
        assert_eq!(e["response"]["status"], 200, "{e:#}");
        assert_eq!(e["response"]["body"]["sha256"], sha256_hex(bytes), "{url}");
        assert_eq!(e["response"]["body"]["size"], bytes.len(), "{url}");
        assert_eq!(&cat(&env, &id, Some(url)), bytes, "{url}");
        let sha = sha256_hex(bytes);
        assert!(blob_path(&env, &sha).is_file(), "{url} is not stored");
    }
    assert_eq!(
        exchange(&m, &fx.other.url("/font.ttf"))["resource_type"],
        "Font"
    );
    let missing = exchange(&m, &fx.main.url("/missing.png"));
    assert_eq!(missing["failed"], true);
    assert_eq!(missing["response"]["status"], 404);
    assert_eq!(
        missing["response"]["body"]["sha256"],
        sha256_hex(b"no such image\n")
    );
    let slow = exchange(&m, &fx.main.url("/slow.css"));
    assert_eq!(slow["failed"], true);
    assert_eq!(slow["error"]["kind"], "timeout", "{slow:#}");
    assert!(slow.get("response").is_none());

    // The attachments: what `cat --part` writes has the listed hash and size.
    let attachments = b["attachments"].as_array().unwrap();
    let roles: Vec<&str> = attachments
        .iter()
        .map(|a| a["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["screenshot", "pdf", "dom"]);
    let mut views = Vec::new();
    for a in attachments {
        let bytes = cat(&env, &id, Some(a["role"].as_str().unwrap()));
        assert_eq!(a["sha256"], sha256_hex(&bytes));
        assert_eq!(a["size"], bytes.len());
        views.push(bytes);
    }
    let dom = String::from_utf8(views[2].clone()).unwrap();
    assert!(dom.contains("Inserted by script: 42"), "{dom}");
    assert!(
        dom.contains("data-font=\"loaded\""),
        "the web font was not used"
    );
    qpdf_check(&views[1]);
    let (w, h, px) = decode_png(&views[0]);
    assert_eq!(w, 1280);
    assert!(h > 2300, "not the full page: {h}");
    let block_rows = (0..h)
        .filter(|&y| px[(y * w + 200) as usize] == BLOCK)
        .count();
    assert_eq!(block_rows, 300, "the CSS block is 300 px tall");

    // `show` lists the parts.
    let shown = env.ok(&["show", &id]);
    assert!(shown.contains("Part:         screenshot"), "{shown}");
    assert!(shown.contains(&fx.other.url("/font.ttf")), "{shown}");
    assert!(shown.contains("FAILED timeout"), "{shown}");

    // Everything verifies and audits; the parts are referenced, not orphans, in every
    // selection.
    env.ok(&["verify", &id]);
    // Its citations, in the formats a filing takes, check as a whole.
    for format in ["text", "oneline", "bluebook", "bibtex", "csl-json"] {
        let c = env.ok(&["cite", &id, "--format", format]);
        let file = env.dir.path().join(format!("cited.{format}"));
        std::fs::write(&file, &c).unwrap();
        env.ok(&["verify", "--citation", file.to_str().unwrap()]);
    }
    env.assert_audit_clean();
    for sel in [
        &["--subset", "1/2"][..],
        &["--subset", "2/2"],
        &["--sample", "100", "--seed", "x"],
    ] {
        let (code, v) = audit_errors(&env, sel);
        assert_eq!(code, 0, "{sel:?}: {v:#}");
    }

    // A part that is not there.
    assert!(env.run(&["cat", &id, "--part", "nope"]).code == 2);

    // Flipping one byte of any part's blob fails verify and audit, naming the part.
    let parts: Vec<(String, String)> = attachments
        .iter()
        .map(|a| {
            (
                a["role"].as_str().unwrap().to_string(),
                a["sha256"].as_str().unwrap().to_string(),
            )
        })
        .chain([(fx.main.url("/style.css"), sha256_hex(&fx.served[1].1))])
        .collect();
    for (name, sha) in &parts {
        let path = blob_path(&env, sha);
        let original = std::fs::read(&path).unwrap();
        let mut flipped = original.clone();
        flipped[original.len() / 2] ^= 0x01;
        std::fs::write(&path, &flipped).unwrap();
        let r = env.run(&["verify", &id]);
        assert_eq!(r.code, 1, "{name}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains(&format!("part \"{name}\"")),
            "{name}: {}",
            r.stdout
        );
        let r = env.run(&["audit"]);
        assert_eq!(r.code, 1, "{name}: {}{}", r.stdout, r.stderr);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(all.contains(&format!("as part {name}")), "{name}: {all}");
        std::fs::write(&path, &original).unwrap();
    }
    env.assert_audit_clean();

    // WARC and WACZ: a request and a response (or revisit) per answered exchange, the views as
    // resources; warcio and wacz accept them and exhibit verifies every part from them.
    let warc = env.dir.path().join("page.warc.gz");
    env.ok(&[
        "export",
        &id,
        "--format",
        "warc",
        "--out",
        warc.to_str().unwrap(),
    ]);
    let out = std::process::Command::new("warcio")
        .args(["check", "-v", warc.to_str().unwrap()])
        .output()
        .expect("warcio (pip install warcio)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    let count = |t: &str| listing.matches(&format!("> {t}\n")).count();
    let answered = m["browser"]["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("response").is_some())
        .count();
    assert_eq!(count("request"), answered, "{listing}");
    assert_eq!(count("response") + count("revisit"), answered, "{listing}");
    assert_eq!(count("resource"), 3, "{listing}");
    assert!(!listing.contains("fail"), "{listing}");
    let pubkey = format!("{}.pub", env.key.display());
    let r = env.run(&[
        "verify",
        "--json",
        warc.to_str().unwrap(),
        "--trusted-key",
        &pubkey,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("parts present"), "{}", r.stdout);
    let wacz = env.dir.path().join("page.wacz");
    env.ok(&[
        "export",
        &id,
        "--format",
        "wacz",
        "--out",
        wacz.to_str().unwrap(),
    ]);
    let out = std::process::Command::new("wacz")
        .args(["validate", "-f", wacz.to_str().unwrap()])
        .output()
        .expect("wacz (pip install wacz)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    env.ok(&["verify", wacz.to_str().unwrap(), "--trusted-key", &pubkey]);
}

/// An interrupted commit of a browser record (everything in place, the checkpoint not yet
/// replaced) is only a warning, and the next writer removes the record and its parts.
#[test]
fn interrupted_commit_of_a_browser_record_audits_clean_and_rolls_back() {
    if skip() {
        return;
    }
    let _one = serial();
    let css = b"body { background: rgb(1, 2, 3); }".to_vec();
    let main = TestServer::start(vec![
        (
            "/",
            Route::html(
                "<!DOCTYPE html><title>Crash</title><link rel=stylesheet href=/c.css><p>crash",
            ),
        ),
        (
            "/c.css",
            Route::Ok {
                content_type: "text/css",
                body: css.clone(),
            },
        ),
        ("/plain", Route::text("plain")),
    ]);
    let env = Env::new();
    let checkpoint = env.archive.join("log").join("checkpoint");
    let before = std::fs::read(&checkpoint).unwrap();
    let (line, _) = browser_capture(&env, &main.url("/"));
    let id = line["record_id"].as_str().unwrap().to_string();
    let css_blob = blob_path(&env, &sha256_hex(&css));
    assert!(css_blob.is_file());
    // The state of a crash just before the commit point.
    std::fs::write(&checkpoint, &before).unwrap();
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["errors"], 0, "{v:#}");
    assert!(v["warnings"].as_u64().unwrap() >= 5, "{v:#}");
    // The next writer rolls it back: no record, no part left, audit clean.
    env.capture(&main.url("/plain"), &[]);
    env.assert_audit_clean();
    assert!(
        !css_blob.exists(),
        "a part of the rolled-back record is left"
    );
    assert_eq!(env.run(&["verify", &id]).code, 3);
    let (docs, records) = env.counts();
    assert_eq!((docs, records), (1, 1));

    // A crash in the middle of moving into place: the record and some parts are there, the
    // document and the PDF not yet.
    let before = std::fs::read(&checkpoint).unwrap();
    let (line, _) = browser_capture(&env, &main.url("/"));
    let id = line["record_id"].as_str().unwrap().to_string();
    let m = manifest(&env, &id);
    std::fs::write(&checkpoint, &before).unwrap();
    let doc = m["document"]["sha256"].as_str().unwrap();
    let pdf = m["browser"]["attachments"][1]["sha256"].as_str().unwrap();
    std::fs::remove_file(blob_path(&env, doc)).unwrap();
    std::fs::remove_file(blob_path(&env, pdf)).unwrap();
    assert!(css_blob.is_file());
    let (code, v) = env.audit(&[]);
    assert_eq!((code, &v["errors"]), (0, &serde_json::json!(0)), "{v:#}");
    env.capture(&main.url("/plain"), &[]);
    env.assert_audit_clean();
    assert!(
        !css_blob.exists(),
        "a part of the rolled-back record is left"
    );
    assert_eq!(env.counts(), (1, 2));
}

/// A batch with --jobs, and a hostile page (a redirect loop) that leaves nothing stored.
#[test]
fn batch_and_hostile_page() {
    if skip() {
        return;
    }
    let _one = serial();
    let main = TestServer::start(vec![
        ("/a", Route::html("<!DOCTYPE html><title>A</title><p>a")),
        (
            "/b",
            Route::Status {
                status: 200,
                reason: "OK",
                content_type: "text/html",
                body: b"<!DOCTYPE html><title>B</title><p>b<img src=/pix.png>".to_vec(),
                headers: vec![("Set-Cookie".into(), b"session=secret-value".to_vec())],
            },
        ),
        (
            "/loop1",
            Route::Redirect {
                status: 302,
                location: "/loop2".into(),
            },
        ),
        (
            "/loop2",
            Route::Redirect {
                status: 302,
                location: "/loop1".into(),
            },
        ),
        (
            "/noisy",
            Route::html(
                "<!DOCTYPE html><title>Noisy</title><p>noisy<script>alert('hello');\
                 window.open('/popup');</script>",
            ),
        ),
        (
            "/js-loop",
            Route::html(
                "<!DOCTYPE html><script>location.replace('/js-loop?' + Math.random())</script>",
            ),
        ),
    ]);
    let env = Env::new();
    let list = env.dir.path().join("urls.txt");
    std::fs::write(&list, format!("{}\n{}\n", main.url("/a"), main.url("/b"))).unwrap();
    let out = env.ok(&[
        "capture",
        "--browser",
        "--from",
        list.to_str().unwrap(),
        "--jobs",
        "2",
        "--redact-header",
        "set-cookie",
        "--ordered",
    ]);
    let ids: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{out}");
    for id in &ids {
        assert_eq!(manifest(&env, id)["format"], "exhibit-manifest/5");
    }
    // The cookie value is never signed; the record says what was redacted. The browser sends
    // the cookie back, so the Cookie header is redacted with Set-Cookie.
    let b = manifest(&env, ids[1]);
    assert_eq!(
        b["browser"]["redacted_headers"],
        serde_json::json!(["cookie", "set-cookie"])
    );
    let text = b.to_string();
    assert!(!text.contains("secret-value"), "{text}");
    assert!(
        text.contains(r#"{"name":"Cookie","value":"[redacted]"}"#),
        "the browser sent no cookie back: {text}"
    );
    assert!(
        text.contains(r#"{"name":"set-cookie","value":"[redacted]"}"#),
        "{text}"
    );

    // An evidence bundle carries the main document and every part, each checked.
    let zip = env.dir.path().join("a.zip");
    env.ok(&["export", ids[0], "--out", zip.to_str().unwrap()]);
    let pubkey = format!("{}.pub", env.key.display());
    let r = env.run(&[
        "verify",
        "--json",
        zip.to_str().unwrap(),
        "--trusted-key",
        &pubkey,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("not carried here"), "{}", r.stdout);
    assert!(
        r.stdout.contains("parts present with the SHA-256"),
        "{}",
        r.stdout
    );
    // --user-agent is what the page and its servers see.
    let r = env.run(&[
        "capture",
        "--browser",
        "--json",
        "--user-agent",
        "Reader/1.0",
        &main.url("/a"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line: Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    let ua = manifest(&env, line["record_id"].as_str().unwrap());
    assert_eq!(ua["browser"]["user_agent"], "Reader/1.0");
    let sent = main.last_request_headers("/a");
    assert!(
        sent.iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("user-agent") && v == "Reader/1.0"),
        "{sent:?}"
    );

    // A page that opens dialogs and popups loads: a complete record that lists them.
    let (line, _) = browser_capture(&env, &main.url("/noisy"));
    let noisy = manifest(&env, line["record_id"].as_str().unwrap());
    let kinds: Vec<&str> = noisy["browser"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"dialog") && kinds.contains(&"popup"),
        "{kinds:?}"
    );
    let counts = env.counts();

    for (path, says) in [
        ("/loop1", "ERR_TOO_MANY_REDIRECTS"),
        ("/js-loop", "navigated more than"),
    ] {
        let t = std::time::Instant::now();
        let r = env.run(&["capture", "--browser", &main.url(path)]);
        assert_eq!(r.code, 5, "{path}: {}{}", r.stdout, r.stderr);
        let line = r.stderr.lines().find(|l| l.starts_with("error:"));
        assert!(
            line.is_some_and(|l| l.contains(says)),
            "{path}: {}",
            r.stderr
        );
        assert!(t.elapsed().as_secs() < 60, "{path}: {:?}", t.elapsed());
    }
    assert_eq!(env.counts(), counts, "a failed capture stored something");
    env.assert_audit_clean();
    let tmp: Vec<_> = common::files_under(&env.archive.join("tmp"))
        .into_iter()
        .filter(|p| !p.ends_with("owner.lock"))
        .collect();
    assert!(tmp.is_empty(), "left in tmp: {tmp:?}");
}

/// `capture --browser --from` killed with SIGKILL at random instants: after every kill the
/// archive audits clean (an interrupted write is only a warning), every record whose line was
/// printed stays, and the next writer leaves no warning behind.
#[test]
fn sigkill_during_browser_batches_never_damages_the_archive() {
    if skip() {
        return;
    }
    let _one = serial();
    let seed = std::env::var("EXHIBIT_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("browser crash test seed {seed} (EXHIBIT_CRASH_SEED to replay)");
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut routes: Vec<(String, Route)> = (0..40)
        .map(|i| {
            (
                format!("/p{i}"),
                Route::html(format!(
                    "<!DOCTYPE html><title>p{i}</title><link rel=stylesheet href=/s.css>\
                     <img src=/i{i}.png><p>page {i}"
                )),
            )
        })
        .collect();
    routes.push((
        "/s.css".into(),
        Route::Ok {
            content_type: "text/css",
            body: b"p { color: rgb(0, 99, 0); }".to_vec(),
        },
    ));
    for i in 0..40 {
        routes.push((
            format!("/i{i}.png"),
            Route::Ok {
                content_type: "image/png",
                body: tiny_png([i as u8, 7, 7]),
            },
        ));
    }
    let srv = common::serve_owned(routes);
    let env = Env::new();
    let mut printed = std::collections::HashSet::new();
    for round in 0..6 {
        let start = (next() % 36) as usize;
        let list = env.dir.path().join("urls.txt");
        let urls: Vec<String> = (start..start + 4)
            .map(|i| srv.url(&format!("/p{i}")))
            .collect();
        std::fs::write(&list, urls.join("\n")).unwrap();
        let mut child = env
            .command(&["capture", "--browser", "--from", list.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .map(|l| l.split("  ").next().unwrap().to_string())
                .collect::<Vec<_>>()
        });
        let wait = std::time::Duration::from_millis(300 + next() % 3000);
        std::thread::sleep(wait);
        let _ = child.kill();
        child.wait().unwrap();
        printed.extend(reader.join().unwrap());
        let (code, report) = env.audit(&[]);
        assert_eq!(
            (code, &report["errors"]),
            (0, &serde_json::json!(0)),
            "round {round} (seed {seed}, killed after {wait:?}): {report:#}"
        );
    }
    env.capture(&srv.url("/s.css"), &[]);
    let (code, report) = env.audit(&[]);
    assert_eq!(
        (code, report["warnings"].as_u64()),
        (0, Some(0)),
        "{report:#}"
    );
    for id in &printed {
        env.ok(&["verify", id]);
    }
    println!("{} browser records printed and intact", printed.len());
}

/// Subresources from a server that answers `Connection: keep-alive` and then closes at once:
/// each is fetched, none fails because a request went into a connection the server had closed
/// (exhibit sends such a GET again, once, on a new connection).
#[test]
fn subresources_from_a_server_that_closes_kept_alive_connections_are_all_fetched() {
    if skip() {
        return;
    }
    let _one = serial();
    let closing = |body: Vec<u8>, ct| Route::keep_alive_then_close(ct, body);
    let n = 24;
    let imgs: String = (0..n)
        .map(|i| format!("<img src=\"/i{i}.png\" width=4 height=4>"))
        .collect();
    // Two that fail, each with its kind: one over --max-size, one on a port nobody listens on.
    let page = format!(
        "<!doctype html><title>closing</title><p>images</p>{imgs}\
         <img src=\"/big.png\"><img src=\"http://127.0.0.1:1/none.png\">"
    )
    .into_bytes();
    let mut routes = vec![
        ("/".to_string(), closing(page, "text/html")),
        (
            "/big.png".to_string(),
            closing(vec![7u8; 300_000], "image/png"),
        ),
    ];
    for i in 0..n {
        let shade = (i * 20) as u8;
        routes.push((
            format!("/i{i}.png"),
            closing(tiny_png([shade, 0, 255 - shade]), "image/png"),
        ));
    }
    let srv = common::serve_owned(routes);
    let env = Env::new();
    let (line, stderr) = browser_capture_with(&env, &srv.url("/"), &["--max-size", "200000"]);
    // The browser also asks for /favicon.ico, which this server does not have.
    let mut failed: Vec<&str> = line["browser"]["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["url"].as_str().unwrap())
        .filter(|u| !u.ends_with("/favicon.ico"))
        .collect();
    failed.sort();
    let big = srv.url("/big.png");
    let mut want = [big.as_str(), "http://127.0.0.1:1/none.png"];
    want.sort();
    assert_eq!(failed, want, "{line:#}\n{stderr}");
    let m = manifest(&env, line["record_id"].as_str().unwrap());
    assert_eq!(m["verification"]["ok"], true, "{m:#}");
    assert_eq!(exchange(&m, &big)["error"]["kind"], "too_large", "{m:#}");
    let none = exchange(&m, "http://127.0.0.1:1/none.png");
    assert_eq!(none["error"]["kind"], "refused", "{none:#}");
    for i in 0..n {
        let e = exchange(&m, &srv.url(&format!("/i{i}.png")));
        assert_eq!(e["failed"], false, "{e:#}");
    }
}

/// A main document answered `206 Partial Content` (the navigation asked for no range) is a
/// piece of the page: the browser capture refuses it as a plain capture does, with or without
/// `--allow-status`, and stores nothing.
#[test]
fn a_main_document_answered_206_partial_content_is_refused() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![("/part", Route::partial_content())]);
    let env = Env::new();
    for extra in [&[][..], &["--allow-status"][..]] {
        let mut args = vec!["capture", "--browser", "--timeout", "4"];
        args.extend_from_slice(extra);
        let url = srv.url("/part");
        args.push(&url);
        let r = env.fails(&args, 5);
        common::assert_one_line_error(&r.stderr, "206 Partial Content");
        assert!(r.stderr.contains("part of the document"), "{}", r.stderr);
        assert_eq!(env.counts(), (0, 0), "a refused capture stored something");
    }
}
