//! The browser engine (src/capture/browser/) against real headless Chromium and loopback
//! servers. The engine's `Network` here is a small recording HTTP client: every assertion
//! compares what the browser rendered with exactly the bytes that client fetched.
//!
//! Needs Chromium (`apt-get install --no-install-recommends chromium`; .ci/test installs it).
//! With `EXHIBIT_SKIP_BROWSER=1` every test here is skipped with a loud message; without it a
//! missing Chromium fails the tests.

mod common;

use common::server::{Route, TestServer};
use common::sha256_hex;
use exhibit::capture::browser::{
    self, Browser, BrowserConfig, BrowserRequest, BrowserResponse, EventKind, FailureKind,
    FetchFailure, Limits, Network, Outcome, PageCapture, PageOptions, Settle,
};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Browser tests share two cores with everything else: one Chromium at a time keeps their time
/// bounds meaningful.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn skip() -> bool {
    if std::env::var_os("EXHIBIT_SKIP_BROWSER").is_some_and(|v| v == "1") {
        eprintln!("\n!!! SKIPPED: EXHIBIT_SKIP_BROWSER=1, the browser engine was NOT tested !!!\n");
        return true;
    }
    false
}

fn launch() -> Browser {
    Browser::launch(&BrowserConfig::default()).unwrap_or_else(|e| {
        panic!("{e} (set EXHIBIT_SKIP_BROWSER=1 to skip the browser tests knowingly)")
    })
}

/// What the test network fetched: URL -> (status, SHA-256 of the body it gave the browser).
#[derive(Default)]
struct Log {
    fetched: Vec<(String, u16, String)>,
    requests: Vec<BrowserRequest>,
}

/// A `Network` over loopback HTTP that records what it fetched.
struct LoopbackNet {
    client: reqwest::blocking::Client,
    log: Mutex<Log>,
}

impl LoopbackNet {
    fn new(timeout: Duration) -> Arc<LoopbackNet> {
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .build()
            .unwrap();
        Arc::new(LoopbackNet {
            client,
            log: Mutex::default(),
        })
    }

    fn fetched(&self) -> Vec<(String, u16, String)> {
        self.log.lock().unwrap().fetched.clone()
    }

    fn requests(&self) -> Vec<BrowserRequest> {
        self.log.lock().unwrap().requests.clone()
    }
}

impl Network for LoopbackNet {
    fn fetch(&self, req: &BrowserRequest) -> Result<BrowserResponse, FetchFailure> {
        self.log.lock().unwrap().requests.push(req.clone());
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
        let mut rb = self.client.request(method, &req.url);
        for (n, v) in &req.headers {
            rb = rb.header(n, v);
        }
        if let Some(b) = &req.body {
            rb = rb.body(b.clone());
        }
        let resp = rb.send().map_err(|e| {
            let kind = if e.is_timeout() {
                FailureKind::Timeout
            } else if e.is_connect() {
                FailureKind::Refused
            } else {
                FailureKind::Other
            };
            FetchFailure::new(kind, e.to_string())
        })?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        let body = resp
            .bytes()
            .map_err(|e| {
                let kind = if e.is_timeout() {
                    FailureKind::Timeout
                } else {
                    FailureKind::Other
                };
                FetchFailure::new(kind, e.to_string())
            })?
            .to_vec();
        self.log
            .lock()
            .unwrap()
            .fetched
            .push((req.url.clone(), status, sha256_hex(&body)));
        Ok(BrowserResponse {
            status,
            headers,
            body,
        })
    }
}

fn quick_options() -> PageOptions {
    PageOptions {
        limits: Limits {
            deadline: Duration::from_secs(30),
            snapshot_reserve: Duration::from_secs(10),
            settle_quiet: Duration::from_millis(300),
            settle_max: Duration::from_secs(3),
            ..Limits::default()
        },
        ..PageOptions::default()
    }
}

fn exchange<'a>(cap: &'a PageCapture, url: &str) -> &'a browser::Exchange {
    cap.exchanges
        .iter()
        .find(|e| e.url == url)
        .unwrap_or_else(|| panic!("no exchange for {url}: {:#?}", cap.exchanges))
}

fn failure(e: &browser::Exchange) -> &FetchFailure {
    match &e.outcome {
        Outcome::Failed(f) => f,
        other => panic!("{} did not fail: {other:?}", e.url),
    }
}

fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a valid PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a valid PNG frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    // Normalize to RGB.
    let rgb = buf[..info.buffer_size()]
        .chunks(channels)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, rgb)
}

fn pixel(img: &(u32, u32, Vec<u8>), x: u32, y: u32) -> [u8; 3] {
    let i = ((y * img.0 + x) * 3) as usize;
    [img.2[i], img.2[i + 1], img.2[i + 2]]
}

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
    fn find(dir: &std::path::Path) -> Option<std::path::PathBuf> {
        let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                if let Some(f) = find(&p) {
                    return Some(f);
                }
            } else if p
                .extension()
                .is_some_and(|x| x == "ttf" || x == "otf" || x == "woff2")
            {
                return Some(p);
            }
        }
        None
    }
    let p = find(std::path::Path::new("/usr/share/fonts")).expect("a font under /usr/share/fonts");
    std::fs::read(p).unwrap()
}

fn check_pdf(pdf: &[u8]) {
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

const BLOCK: [u8; 3] = [255, 0, 128];

/// The fixture of issue 10: text inserted by a script from a JSON fetch, an external CSS file
/// that draws a colour block (below the first screen, so only a full-page screenshot shows
/// it), an image and a web font from a second origin, a 404 and a hanging stylesheet.
#[test]
fn fixture_page_is_rendered_from_exactly_the_recorded_bytes() {
    if skip() {
        return;
    }
    let _one = serial();
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
    let js = "fetch('/data.json').then(r => r.json()).then(d => {\n\
                const p = document.createElement('p');\n\
                p.id = 'inserted'; p.textContent = d.text;\n\
                document.body.prepend(p);\n\
                return document.fonts.load('16px Fixture');\n\
              }).then(f => document.body.dataset.font = f.length ? 'loaded' : 'missing');";
    let page = format!(
        "<!DOCTYPE html><html><head><title>Fixture page</title>\
         <link rel=stylesheet href=/style.css><link rel=stylesheet href=/slow.css></head>\
         <body><div id=spacer></div><div id=block></div><img src={}>\
         <img src=/missing.png><script src=/app.js></script></body></html>",
        other.url("/img.png")
    );
    let json = br#"{"text": "Inserted by script: 42"}"#.to_vec();
    let main = TestServer::start(vec![
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
    ]);

    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(2));
    let t = Instant::now();
    let cap = browser
        .capture(&main.url("/"), net.clone(), &quick_options())
        .expect("the capture succeeds although two subresources failed");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());

    // Every exchange the network answered is recorded with the hash of exactly its bytes, and
    // those are the servers' bytes.
    let expected = [
        (main.url("/"), sha256_hex(page.as_bytes())),
        (main.url("/style.css"), sha256_hex(css.as_bytes())),
        (main.url("/app.js"), sha256_hex(js.as_bytes())),
        (main.url("/data.json"), sha256_hex(&json)),
        (other.url("/img.png"), sha256_hex(&img)),
        (other.url("/font.ttf"), sha256_hex(&font)),
    ];
    for (url, sha) in &expected {
        let e = exchange(&cap, url);
        assert_eq!(e.status(), Some(200), "{url}");
        assert_eq!(e.sha256(), Some(sha.as_str()), "{url}");
        assert!(!e.failed());
    }
    let fetched = net.fetched();
    for (url, status, sha) in &fetched {
        let e = exchange(&cap, url);
        assert_eq!(e.status(), Some(*status), "{url}");
        assert_eq!(e.sha256(), Some(sha.as_str()), "{url}");
    }
    // Nothing reached the browser that the network did not fetch: every answered exchange is
    // one the network fetched.
    for e in &cap.exchanges {
        if let Some(sha) = e.sha256() {
            assert!(
                fetched.iter().any(|(u, _, s)| *u == e.url && s == sha),
                "{} answered but not fetched",
                e.url
            );
        }
    }
    assert_eq!(cap.exchanges[0].url, main.url("/"));
    assert!(cap.exchanges[0].main_frame_navigation);
    assert_eq!(cap.main_document().unwrap().url, main.url("/"));
    assert_eq!(exchange(&cap, &main.url("/app.js")).resource_type, "Script");
    assert_eq!(
        exchange(&cap, &other.url("/font.ttf")).resource_type,
        "Font"
    );

    // The 404 and the timed-out stylesheet are failed, the capture still succeeded.
    let missing = exchange(&cap, &main.url("/missing.png"));
    assert_eq!(missing.status(), Some(404));
    assert!(missing.failed());
    let slow = exchange(&cap, &main.url("/slow.css"));
    assert_eq!(failure(slow).kind, FailureKind::Timeout);
    let failed: Vec<&str> = cap.failed().iter().map(|e| e.url.as_str()).collect();
    assert!(failed.contains(&main.url("/missing.png").as_str()));
    assert!(failed.contains(&main.url("/slow.css").as_str()));

    // The DOM after scripts ran, the title, the final URL.
    assert!(cap.dom.contains("Inserted by script: 42"), "{}", cap.dom);
    assert!(
        cap.dom.contains("data-font=\"loaded\""),
        "the web font was not used"
    );
    assert!(cap.dom.starts_with("<!DOCTYPE html>"), "{}", &cap.dom[..50]);
    assert_eq!(cap.title, "Fixture page");
    assert_eq!(cap.final_url, main.url("/"));

    // The screenshot: a PNG 1280 wide, as tall as the whole page, with the CSS block at its
    // place below the first screen.
    let shot = decode_png(&cap.screenshot.png);
    assert_eq!(shot.0, 1280);
    assert_eq!(shot.1, cap.screenshot.height);
    assert!(cap.screenshot.page_height > 2300, "{:?}", cap.screenshot);
    assert_eq!(cap.screenshot.height, cap.screenshot.page_height);
    assert!(!cap.screenshot.truncated);
    let block_top = shot.1 - 300 - 4 - 50; // spacer, inserted text, then the block, image, ...
    let _ = block_top;
    let rows_with_block: Vec<u32> = (0..shot.1)
        .filter(|&y| pixel(&shot, 200, y) == BLOCK)
        .collect();
    assert_eq!(rows_with_block.len(), 300, "the block is 300 px tall");
    assert!(
        rows_with_block[0] > 2000,
        "the block starts below the spacer, at {}",
        rows_with_block[0]
    );
    assert_eq!(pixel(&shot, 399, rows_with_block[0]), BLOCK);
    assert_ne!(pixel(&shot, 401, rows_with_block[0]), BLOCK);

    check_pdf(&cap.pdf);

    // Provenance.
    let p = &cap.provenance;
    assert_eq!(p.browser.name, "Chromium");
    assert!(p.browser.version.split('.').count() == 4, "{:?}", p.browser);
    assert!(p.browser.product.ends_with(&p.browser.version));
    assert!(p.user_agent.contains("Chrome/"));
    assert_eq!((p.viewport_width, p.viewport_height), (1280, 800));
    assert_eq!(p.device_scale_factor, 1.0);
    assert!(p.browser.flags.iter().any(|f| f == "--headless"));
    assert!(p
        .browser
        .flags
        .iter()
        .any(|f| f == "--user-data-dir=<profile>"));
    assert_eq!(
        p.browser.flags.iter().any(|f| f == "--no-sandbox"),
        !p.browser.sandbox
    );
    assert_eq!(p.browser.sandbox, !browser::running_as_root());
    let t = &cap.timings;
    let dcl = t.dom_content_loaded_ms.expect("DOMContentLoaded");
    let load = t.load_ms.expect("load");
    assert!(t.navigation_start_ms <= dcl && dcl <= load && load <= t.settled_ms);
    assert!(t.settled_ms <= t.total_ms);
    assert_eq!(t.settle, Settle::Quiet);
    // The whole record serializes (what the lead's manifest will take from it).
    let v = serde_json::to_value(&cap).unwrap();
    assert_eq!(v["exchanges"][0]["outcome"]["type"], "response");
}
