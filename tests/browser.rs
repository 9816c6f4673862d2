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
        // Straight to the process's stderr: the test harness captures eprintln! of passing
        // tests, and this must be seen.
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            use std::io::Write;
            let _ = std::io::stderr().write_all(
                b"\n!!! SKIPPED: EXHIBIT_SKIP_BROWSER=1, the browser engine was NOT tested !!!\n\n",
            );
        });
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
        // The test's own `/hold` (Route::hold_until_settled) lasts until the page's handlers
        // ran, however long that takes under load: not cut at a timeout meant for the page's
        // slow subresources.
        if reqwest::Url::parse(&req.url).is_ok_and(|u| u.path() == "/hold") {
            rb = rb.timeout(HOLD);
        }
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

/// How long a page's `/hold` (Route::hold_until_settled) waits for its `/settled` at most.
const HOLD: Duration = Duration::from_secs(20);

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
    // The page holds `/hold` open until its last handler has written to the DOM and fetched
    // `/settled`: the capture cannot settle (and snapshot) between the font's arrival and the
    // handlers that write what the test looks for, which under load can be a long while.
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
         <body><header style='height: 100vh; background: rgb(0, 128, 255)'></header>\
         <div id=spacer></div><div id=block></div><img src={}>\
         <img src=/missing.png><script src=/app.js></script></body></html>",
        other.url("/img.png")
    );
    let json = br#"{"text": "Inserted by script: 42"}"#.to_vec();
    let [hold, settled] = Route::hold_until_settled(HOLD);
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
    ]);

    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(2));
    // The page settles once its handlers are done (its `/hold`), however long that takes: not
    // cut short by the quick options' settle cap, which a loaded machine can reach first.
    let mut options = quick_options();
    options.limits.settle_max = HOLD;
    let t = Instant::now();
    let cap = browser
        .capture(&main.url("/"), net.clone(), &options)
        .expect("the capture succeeds although two subresources failed");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert_eq!(
        main.hits("/settled"),
        1,
        "the page's handlers never finished"
    );

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
    // Drawn beyond the viewport, not in a viewport stretched to the page: 100vh is 800 px.
    let hero = (0..shot.1)
        .filter(|&y| pixel(&shot, 5, y) == [0, 128, 255])
        .count();
    assert_eq!(hero, 800);
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
    assert_eq!(v["provenance"]["limits"]["deadline_ms"], 30_000);
    assert!(
        exhibit::manifest::is_canonical_time(&t.started_at),
        "{}",
        t.started_at
    );
}

/// Runs `f` with a fresh browser, insists the whole capture took less than `bound`.
fn timed<T>(bound: Duration, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    assert!(
        t.elapsed() < bound,
        "took {:?}, over the bound of {bound:?}",
        t.elapsed()
    );
    out
}

fn events(cap: &PageCapture, kind: EventKind) -> Vec<&browser::PageEvent> {
    cap.events.iter().filter(|e| e.kind == kind).collect()
}

#[test]
fn popups_are_not_opened_and_are_recorded() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![
        (
            "/",
            Route::html(
                "<title>p</title><a id=a href=/tab target=_blank>x</a><script>\
                 const w = window.open('/popup');\
                 document.title = 'open returned ' + w;\
                 document.getElementById('a').click();</script>",
            ),
        ),
        ("/popup", Route::html("<p>popup")),
        ("/tab", Route::html("<p>tab")),
    ]);
    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(5));
    let cap = timed(Duration::from_secs(20), || {
        browser.capture(&srv.url("/"), net.clone(), &quick_options())
    })
    .unwrap();
    let popups: Vec<&str> = events(&cap, EventKind::Popup)
        .iter()
        .map(|e| e.url.as_str())
        .collect();
    assert!(
        popups.contains(&srv.url("/popup").as_str()),
        "{:?}",
        cap.events
    );
    assert!(
        popups.contains(&srv.url("/tab").as_str()),
        "{:?}",
        cap.events
    );
    assert_eq!(cap.title, "open returned null");
    assert_eq!(srv.hits("/popup") + srv.hits("/tab"), 0, "a popup loaded");
    // The page and nothing else; its favicon too if the browser asked for it before the page
    // settled (after its load event, so not by then on a loaded machine).
    let fetched: Vec<&str> = cap
        .exchanges
        .iter()
        .map(|e| e.url.as_str())
        .filter(|u| *u != srv.url("/favicon.ico"))
        .collect();
    assert_eq!(fetched, [srv.url("/")], "{:#?}", cap.exchanges);
}

#[test]
fn downloads_are_denied_and_recorded() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![
        (
            "/",
            Route::html(
                "<title>d</title><a id=a href=/file.bin download=evil.bin>x</a>\
                 <script>document.getElementById('a').click();</script>",
            ),
        ),
        (
            "/file.bin",
            Route::Status {
                status: 200,
                reason: "OK",
                content_type: "application/octet-stream",
                body: vec![7; 1000],
                headers: vec![(
                    "Content-Disposition".into(),
                    b"attachment; filename=evil.bin".to_vec(),
                )],
            },
        ),
    ]);
    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(5));
    let cap = timed(Duration::from_secs(20), || {
        browser.capture(&srv.url("/"), net.clone(), &quick_options())
    })
    .unwrap();
    let downloads = events(&cap, EventKind::Download);
    assert_eq!(downloads.len(), 1, "{:#?}", cap.events);
    assert_eq!(downloads[0].url, srv.url("/file.bin"));
    assert!(downloads[0].detail.contains("evil.bin"));
    assert_eq!(cap.final_url, srv.url("/"));
}

#[test]
fn dialogs_are_dismissed_and_recorded() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![(
        "/",
        Route::html(
            "<title>before</title><script>\
             alert('hello alert');\
             const c = confirm('really?');\
             const p = prompt('name?', 'x');\
             document.title = 'confirm=' + c + ' prompt=' + p;</script>",
        ),
    )]);
    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(5));
    let cap = timed(Duration::from_secs(20), || {
        browser.capture(&srv.url("/"), net.clone(), &quick_options())
    })
    .unwrap();
    let dialogs: Vec<&str> = events(&cap, EventKind::Dialog)
        .iter()
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(
        dialogs,
        ["alert: hello alert", "confirm: really?", "prompt: name?"]
    );
    assert_eq!(cap.title, "confirm=false prompt=null");
}

#[test]
fn long_polling_and_endless_requests_settle_at_the_cap() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![
        (
            "/",
            Route::html(
                "<title>poll</title><script>\
                 window.onload = () => {\
                   fetch('/poll');\
                   setInterval(() => fetch('/tick'), 100);\
                 };</script>",
            ),
        ),
        ("/poll", Route::Hang),
        ("/tick", Route::text("t")),
    ]);
    let browser = launch();
    // The network would wait a minute for /poll: the page's settle cap ends it first.
    let net = LoopbackNet::new(Duration::from_secs(60));
    let mut opts = quick_options();
    opts.limits.settle_max = Duration::from_secs(2);
    let cap = timed(Duration::from_secs(15), || {
        browser.capture(&srv.url("/"), net.clone(), &opts)
    })
    .unwrap();
    assert_eq!(cap.timings.settle, Settle::SettleCap);
    let poll = exchange(&cap, &srv.url("/poll"));
    assert_eq!(failure(poll).kind, FailureKind::StillPending);
    let ticks = cap
        .exchanges
        .iter()
        .filter(|e| e.url == srv.url("/tick"))
        .count();
    assert!(ticks >= 5, "{ticks} ticks");
    assert!(cap.failed().iter().any(|e| e.url == srv.url("/poll")));
}

#[test]
fn infinite_scroll_and_huge_canvas_are_cut_at_the_screenshot_cap() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![(
        "/",
        Route::html(
            "<title>tall</title><body style=margin:0>\
             <canvas id=c width=1280 height=30000></canvas><div id=more></div><script>\
             const g = document.getElementById('c').getContext('2d');\
             g.fillStyle = 'rgb(0,0,255)'; g.fillRect(0, 0, 1280, 30000);\
             function grow() { const d = document.createElement('div');\
               d.style.height = '5000px'; document.getElementById('more').append(d); }\
             window.addEventListener('resize', grow); window.addEventListener('scroll', grow);\
             setInterval(grow, 50);</script>",
        ),
    )]);
    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(5));
    let mut opts = quick_options();
    opts.limits.max_screenshot_height = 6000;
    let cap = timed(Duration::from_secs(25), || {
        browser.capture(&srv.url("/"), net.clone(), &opts)
    })
    .unwrap();
    assert!(cap.screenshot.truncated);
    assert_eq!(cap.screenshot.height, 6000);
    // At least the canvas; how far the page grew by the snapshot depends on the machine's load.
    assert!(cap.screenshot.page_height >= 30000, "{:?}", cap.screenshot);
    let shot = decode_png(&cap.screenshot.png);
    assert_eq!((shot.0, shot.1), (1280, 6000));
    assert_eq!(pixel(&shot, 640, 5999), [0, 0, 255]);
    check_pdf(&cap.pdf);
}

#[test]
fn client_side_redirect_loops_fail_at_the_navigation_cap() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![
        ("/a", Route::html("<script>location.replace('/b')</script>")),
        (
            "/b",
            Route::html("<meta http-equiv=refresh content='0;url=/a'>"),
        ),
        (
            "/h1",
            Route::Redirect {
                status: 302,
                location: "/h2".into(),
            },
        ),
        (
            "/h2",
            Route::Redirect {
                status: 307,
                location: "/h1".into(),
            },
        ),
    ]);
    let browser = launch();
    let mut opts = quick_options();
    opts.limits.max_navigations = 8;
    for start in ["/a", "/h1"] {
        let net = LoopbackNet::new(Duration::from_secs(5));
        let err = timed(Duration::from_secs(20), || {
            browser.capture(&srv.url(start), net.clone(), &opts)
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("navigated more than 8 times"),
            "{start}: {err}"
        );
        let documents = net
            .requests()
            .iter()
            .filter(|r| r.resource_type == "Document")
            .count();
        assert_eq!(documents, 8, "{start}");
        assert!(browser.is_alive());
    }
}

#[test]
fn http_redirects_are_followed_and_recorded_hop_by_hop() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![
        (
            "/old",
            Route::Redirect {
                status: 301,
                location: "/new".into(),
            },
        ),
        ("/new", Route::html("<title>new</title><p>moved")),
    ]);
    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(5));
    let cap = browser
        .capture(&srv.url("/old"), net.clone(), &quick_options())
        .unwrap();
    assert_eq!(exchange(&cap, &srv.url("/old")).status(), Some(301));
    assert_eq!(cap.final_url, srv.url("/new"));
    assert_eq!(cap.main_document().unwrap().url, srv.url("/new"));
    assert!(cap.exchanges[..2].iter().all(|e| e.main_frame_navigation));
    assert_eq!(cap.title, "new");
    assert!(browser.responsive(Duration::from_secs(5)));

    // A document without a title has none (not the URL the browser shows in its place).
    let bare = TestServer::start(vec![("/", Route::html("<p>no title"))]);
    let cap = browser
        .capture(&bare.url("/"), net.clone(), &quick_options())
        .unwrap();
    assert_eq!(cap.title, "");
}

#[test]
fn service_workers_and_websockets_are_blocked_and_recorded() {
    if skip() {
        return;
    }
    let _one = serial();
    // A socket that would see the WebSocket if it ever went live.
    let ws = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ws.set_nonblocking(true).unwrap();
    let ws_url = format!("ws://{}/live", ws.local_addr().unwrap());
    // The socket's refusal reaches the page's handler only after the browser has tried it,
    // which under load takes longer than any fixed quiet window. So the page holds a request
    // open (`/hold`) until its handler has run and said so (`/settled`). The worker's
    // registration promise is Chromium's to settle: under load, when its script is refused
    // while the worker still waits for the debugger, it never settles (the capture does not
    // wait on it, nothing being in flight). What is ours, and checked below, is that its script
    // is never fetched, the refusal is recorded, and the page never sees it registered.
    let [hold, settled] = Route::hold_until_settled(HOLD);
    let srv = TestServer::start(vec![
        hold,
        settled,
        (
            "/",
            Route::html(format!(
                "<title>sw</title><script>\
                 const held = fetch('/hold');\
                 const s = new WebSocket('{ws_url}');\
                 const ws = new Promise(done => {{\
                   s.onopen = () => {{ document.body.dataset.ws = 'open'; done(); }};\
                   s.onerror = () => {{ document.body.dataset.ws = 'error'; done(); }};\
                 }});\
                 navigator.serviceWorker.register('/sw.js').then(\
                   () => document.body.dataset.sw = 'registered',\
                   () => document.body.dataset.sw = 'refused');\
                 ws.then(() => fetch('/settled'));</script>"
            )),
        ),
        (
            "/sw.js",
            Route::Ok {
                content_type: "text/javascript",
                body: b"self.onfetch = e => e.respondWith(new Response('sw'));".to_vec(),
            },
        ),
    ]);
    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(20));
    let mut options = quick_options();
    options.limits.settle_max = HOLD;
    let cap = timed(Duration::from_secs(40), || {
        browser.capture(&srv.url("/"), net.clone(), &options)
    })
    .unwrap();
    assert_eq!(
        srv.hits("/settled"),
        1,
        "the page never saw the socket fail"
    );
    assert!(cap.dom.contains("data-ws=\"error\""), "{}", cap.dom);
    assert!(!cap.dom.contains("data-sw=\"registered\""), "{}", cap.dom);
    assert!(ws.accept().is_err(), "the WebSocket reached its server");
    assert_eq!(
        srv.hits("/sw.js"),
        0,
        "the service worker script was fetched"
    );
    let w = events(&cap, EventKind::WebSocket);
    assert_eq!(w.len(), 1, "{:#?}", cap.events);
    assert_eq!(w[0].url, ws_url);
    let s = events(&cap, EventKind::ServiceWorker);
    assert_eq!(s.len(), 1, "{:#?}", cap.events);
    assert_eq!(s[0].url, srv.url("/sw.js"));
    let sw = exchange(&cap, &srv.url("/sw.js"));
    assert_eq!(failure(sw).kind, FailureKind::Blocked);
}

#[test]
fn other_schemes_and_credentials_are_never_fetched() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![
        ("/", Route::html("")), // replaced below: needs the server's own address
    ]);
    let addr = srv.addr();
    let page = format!(
        "<title>s</title>\
         <img src='ftp://{addr}/x.png'><img src='gopher://{addr}/x'>\
         <img src='http://user:secret@{addr}/cred.png'>\
         <iframe src='file:///etc/passwd'></iframe>\
         <script>fetch('chrome://version').catch(() => {{}});\
         fetch('http://user:secret@{addr}/cred.json').catch(() => {{}});</script>"
    );
    drop(srv);
    let srv = common::serve_owned(vec![
        ("/".into(), Route::html(page)),
        ("/cred.png".into(), Route::text("x")),
        ("/cred.json".into(), Route::text("x")),
    ]);
    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(5));
    let cap = timed(Duration::from_secs(20), || {
        browser.capture(&srv.url("/"), net.clone(), &quick_options())
    })
    .unwrap();
    // The network was asked for the page and nothing else but the favicon.
    let asked: Vec<String> = net.requests().iter().map(|r| r.url.clone()).collect();
    assert!(
        asked
            .iter()
            .all(|u| *u == srv.url("/") || *u == srv.url("/favicon.ico")),
        "{asked:?}"
    );
    assert_eq!(srv.hits("/cred.png") + srv.hits("/cred.json"), 0);
    // No credentials anywhere in the record.
    let record = serde_json::to_string(&cap).unwrap();
    assert!(!record.contains("secret"), "{record}");
    for e in &cap.exchanges {
        if e.url.contains("cred") {
            assert_eq!(failure(e).kind, FailureKind::Blocked, "{}", e.url);
        }
    }
    // The top-level URL is checked before the browser sees it.
    for bad in [
        "file:///etc/passwd",
        "ftp://example.org/",
        "javascript:alert(1)",
    ] {
        let err = browser
            .capture(bad, net.clone(), &quick_options())
            .unwrap_err();
        assert_eq!(err.kind, exhibit::Kind::Usage, "{bad}: {err}");
    }
}

#[test]
fn resource_and_byte_caps_fail_the_excess_and_keep_the_page() {
    if skip() {
        return;
    }
    let _one = serial();
    let imgs: String = (0..30).map(|i| format!("<img src=/i{i}.png>")).collect();
    let mut routes: Vec<(String, Route)> = (0..30)
        .map(|i| {
            (
                format!("/i{i}.png"),
                Route::Ok {
                    content_type: "image/png",
                    body: tiny_png([i as u8, 0, 0]),
                },
            )
        })
        .collect();
    routes.push((
        "/".into(),
        Route::html(format!("<title>many</title>{imgs}")),
    ));
    routes.push((
        "/big".into(),
        Route::html("<title>big</title><script src=/big.js></script>"),
    ));
    routes.push((
        "/big.js".into(),
        Route::Ok {
            content_type: "text/javascript",
            body: vec![b' '; 50_000],
        },
    ));
    let srv = common::serve_owned(routes);
    let browser = launch();

    let mut opts = quick_options();
    opts.limits.max_resources = 10;
    let net = LoopbackNet::new(Duration::from_secs(5));
    let cap = browser.capture(&srv.url("/"), net.clone(), &opts).unwrap();
    let answered = cap
        .exchanges
        .iter()
        .filter(|e| e.sha256().is_some())
        .count();
    assert_eq!(answered, 10);
    let limited = cap
        .exchanges
        .iter()
        .filter(|e| matches!(&e.outcome, Outcome::Failed(f) if f.kind == FailureKind::LimitReached))
        .count();
    assert!(limited >= 21, "{limited}");
    assert_eq!(
        net.fetched().len(),
        10,
        "the network was asked past the cap"
    );
    assert_eq!(events(&cap, EventKind::LimitReached)[0].detail, "resources");

    let mut opts = quick_options();
    opts.limits.max_total_bytes = 10_000;
    let net = LoopbackNet::new(Duration::from_secs(5));
    let cap = browser
        .capture(&srv.url("/big"), net.clone(), &opts)
        .unwrap();
    let big = exchange(&cap, &srv.url("/big.js"));
    assert_eq!(failure(big).kind, FailureKind::LimitReached);
    let asked = net
        .requests()
        .into_iter()
        .find(|r| r.url.ends_with("/big.js"))
        .unwrap();
    assert!(asked.max_body_bytes < 10_000, "{}", asked.max_body_bytes);
}

#[test]
fn a_page_that_never_answers_fails_by_its_deadline() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![("/hang", Route::Hang)]);
    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(120));
    let mut opts = quick_options();
    opts.limits.deadline = Duration::from_secs(6);
    opts.limits.snapshot_reserve = Duration::from_secs(2);
    let err = timed(Duration::from_secs(9), || {
        browser.capture(&srv.url("/hang"), net.clone(), &opts)
    })
    .unwrap_err();
    assert!(err.to_string().contains("did not load within 4 s"), "{err}");
    assert!(browser.is_alive());

    // A refused document: one clear error naming the network's failure. Port 1, where nothing
    // listens (a port freed by dropping a listener may be taken again meanwhile).
    let err = browser
        .capture(
            "http://127.0.0.1:1/",
            LoopbackNet::new(Duration::from_secs(5)),
            &quick_options(),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the page could not be loaded: http://127.0.0.1:"),
        "{err}"
    );
    assert!(err.hint.is_some());
    // The browser goes on serving other pages.
    let ok = TestServer::start(vec![("/", Route::html("<title>fine</title>"))]);
    let cap = browser
        .capture(
            &ok.url("/"),
            LoopbackNet::new(Duration::from_secs(5)),
            &quick_options(),
        )
        .unwrap();
    assert_eq!(cap.title, "fine");
}

#[test]
fn parallel_pages_in_one_browser_are_isolated() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![
        (
            "/",
            Route::html(
                "<title>x</title><script>\
                 document.title = document.cookie.includes('seen') ? 'shared' : 'fresh';\
                 document.cookie = 'seen=1';</script>",
            ),
        ),
        ("/p1", Route::html("<title>one</title>")),
        ("/p2", Route::html("<title>two</title>")),
        ("/p3", Route::html("<title>three</title>")),
    ]);
    let browser = launch();
    let titles: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = ["/p1", "/p2", "/p3", "/", "/"]
            .iter()
            .map(|p| {
                let (b, srv) = (&browser, &srv);
                s.spawn(move || {
                    let net = LoopbackNet::new(Duration::from_secs(5));
                    let cap = b
                        .capture(&srv.url(p), net.clone(), &quick_options())
                        .unwrap();
                    // Each page's exchanges are its own.
                    assert_eq!(cap.exchanges[0].url, srv.url(p));
                    for (u, _, _) in net.fetched() {
                        assert!(u == srv.url(p) || u.ends_with("/favicon.ico"), "{u}");
                    }
                    cap.title
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(titles, ["one", "two", "three", "fresh", "fresh"]);
}

/// A Network that panics.
struct Panicky;
impl Network for Panicky {
    fn fetch(&self, _: &BrowserRequest) -> Result<BrowserResponse, FetchFailure> {
        panic!("the network panicked on purpose");
    }
}

fn assert_all_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|&p| browser::process_alive(p))
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "orphaned browser processes: {alive:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn no_browser_process_outlives_the_browser_on_drop_error_or_panic() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![("/", Route::html("<title>t</title><p>x"))]);

    // Normal end.
    let browser = launch();
    browser
        .capture(
            &srv.url("/"),
            LoopbackNet::new(Duration::from_secs(5)),
            &quick_options(),
        )
        .unwrap();
    let pids = browser.process_ids();
    assert!(pids.len() >= 3, "browser and helpers: {pids:?}");
    drop(browser);
    assert_all_gone(&pids);

    // A panic in the caller's network: resumed on this thread after the page is closed, and
    // the browser dropped while unwinding takes its processes with it.
    let seen = Mutex::new(Vec::new());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let browser = launch();
        *seen.lock().unwrap() = browser.process_ids();
        let _ = browser.capture(&srv.url("/"), Arc::new(Panicky), &quick_options());
    }));
    let payload = outcome.expect_err("the panic reaches the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the network panicked on purpose")
    );
    let pids = seen.into_inner().unwrap();
    assert!(!pids.is_empty());
    assert_all_gone(&pids);
}

/// Not a test of its own: run by `killed_exhibit_leaves_no_browser` in a child process, which
/// aborts (no destructors run) while the browser is up.
#[test]
#[ignore = "helper: run by killed_exhibit_leaves_no_browser"]
fn helper_abort_with_a_browser_running() {
    // Only in the child process: `cargo test -- --include-ignored` must not abort the run.
    if std::env::var_os("EXHIBIT_BROWSER_ABORT_HELPER").is_none() {
        return;
    }
    let browser = launch();
    let srv = TestServer::start(vec![("/", Route::html("<title>t</title>"))]);
    browser
        .capture(
            &srv.url("/"),
            LoopbackNet::new(Duration::from_secs(5)),
            &quick_options(),
        )
        .unwrap();
    let pids: Vec<String> = browser
        .process_ids()
        .iter()
        .map(|p| p.to_string())
        .collect();
    println!("PIDS {}", pids.join(" "));
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    std::process::abort();
}

#[test]
fn killed_exhibit_leaves_no_browser() {
    if skip() {
        return;
    }
    let _one = serial();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "helper_abort_with_a_browser_running",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("EXHIBIT_BROWSER_ABORT_HELPER", "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the helper should have aborted");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("PIDS ").map(|(_, p)| p.trim()))
        .unwrap_or_else(|| {
            panic!(
                "no PIDS line: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let pids: Vec<u32> = line.split(' ').map(|p| p.parse().unwrap()).collect();
    assert!(pids.len() >= 3, "{pids:?}");
    assert_all_gone(&pids);
}

#[test]
fn a_missing_chromium_is_one_clear_error() {
    let err = Browser::launch(&BrowserConfig {
        executable: Some("/nonexistent/chromium".into()),
        ..BrowserConfig::default()
    })
    .err()
    .expect("no browser there");
    assert_eq!(err.kind, exhibit::Kind::Usage);
    assert!(err.to_string().contains("/nonexistent/chromium"), "{err}");
    assert!(
        err.to_string()
            .contains("apt-get install --no-install-recommends chromium"),
        "{err}"
    );
}

/// Resident memory of a process, KiB (0 when gone).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A Network that answers with what it is given, whatever the request.
struct Fixed(BrowserResponse);
impl Network for Fixed {
    fn fetch(&self, _: &BrowserRequest) -> Result<BrowserResponse, FetchFailure> {
        Ok(self.0.clone())
    }
}

#[test]
fn a_header_that_could_smuggle_another_is_refused() {
    if skip() {
        return;
    }
    let _one = serial();
    let browser = launch();
    for (name, value) in [
        ("X-Evil", b"a\0Set-Cookie: x=1".to_vec()),
        ("X-Evil", b"a\r\nSet-Cookie: x=1".to_vec()),
        ("Bad Name", b"v".to_vec()),
        ("", b"v".to_vec()),
    ] {
        let net = Arc::new(Fixed(BrowserResponse {
            status: 200,
            headers: vec![
                ("Content-Type".into(), b"text/html".to_vec()),
                (name.into(), value),
            ],
            body: b"<title>t</title>".to_vec(),
        }));
        let err = browser
            .capture("http://127.0.0.1:9/", net, &quick_options())
            .unwrap_err();
        assert!(
            err.to_string().contains("malformed response header"),
            "{name:?}: {err}"
        );
    }
}

#[test]
fn a_page_eating_memory_ends_bounded() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![(
        "/",
        Route::html(
            "<title>hog</title><script>\
             const keep = []; for (let i = 0; ; i++) keep.push(new Array(1 << 20).fill(i));\
             </script>",
        ),
    )]);
    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(5));
    let mut opts = quick_options();
    opts.limits.deadline = Duration::from_secs(20);
    opts.limits.snapshot_reserve = Duration::from_secs(8);
    let pids = browser.process_ids();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (outcome, peak) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let pids = browser.process_ids();
                peak = peak.max(pids.iter().map(|&p| rss_kib(p)).sum());
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        });
        let outcome = timed(Duration::from_secs(30), || {
            browser.capture(&srv.url("/"), net.clone(), &opts)
        });
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (outcome, sampler.join().unwrap())
    });
    assert!(!pids.is_empty());
    // The renderer's heap is capped at 1 GiB (BrowserConfig::js_heap_mib): the whole browser
    // stays well under 3 GiB where an uncapped one passes 4.
    assert!(peak < 3 << 20, "peak {} MiB", peak >> 10);
    assert!(
        peak > 256 << 10,
        "the hog did not run: peak {} MiB",
        peak >> 10
    );
    let err = outcome.expect_err("the renderer runs out of its heap");
    assert!(
        err.to_string().contains("crashed the browser's renderer"),
        "{err}"
    );
    assert!(browser.is_alive(), "only the renderer died");
}

#[test]
fn iframes_workers_and_posts_go_through_the_network_too() {
    if skip() {
        return;
    }
    let _one = serial();
    let other = TestServer::start(vec![
        (
            "/frame.html",
            Route::html("<title>f</title><img src=/in-frame.png>"),
        ),
        (
            "/in-frame.png",
            Route::Ok {
                content_type: "image/png",
                body: tiny_png([1, 2, 3]),
            },
        ),
    ]);
    // Another site (localhost, not 127.0.0.1): the iframe runs in its own renderer process, a
    // target of its own that the engine attaches to and intercepts.
    let other_site = |p: &str| format!("http://localhost:{}{p}", other.addr().port());
    let [hold, settled] = Route::hold_until_settled(HOLD);
    let srv = common::serve_owned(vec![
        (hold.0.into(), hold.1),
        (settled.0.into(), settled.1),
        (
            "/".into(),
            // The page holds `/hold` open until both handlers wrote to the DOM: the capture
            // cannot settle between the last answer and the handlers that record it.
            Route::html(format!(
                "<title>main</title><iframe src={}></iframe><script>\
                 const held = fetch('/hold');\
                 const worker = new Promise(done => new Worker('/worker.js').onmessage = e => {{\
                   document.body.dataset.worker = e.data; done(); }});\
                 const post = fetch('/post', {{method: 'POST', body: 'hello body'}})\
                   .then(r => r.text()).then(t => document.body.dataset.post = t);\
                 Promise.allSettled([worker, post]).then(() => fetch('/settled'));</script>",
                other_site("/frame.html")
            )),
        ),
        (
            "/worker.js".into(),
            Route::Ok {
                content_type: "text/javascript",
                body: b"fetch('/from-worker.txt').then(r => r.text()).then(t => postMessage(t));"
                    .to_vec(),
            },
        ),
        ("/from-worker.txt".into(), Route::text("worker got it")),
        (
            "/post".into(),
            Route::custom(|head, stream| {
                use std::io::Read;
                let n: usize = head.header("content-length").unwrap().parse().unwrap();
                let mut body = vec![0; n];
                stream.read_exact(&mut body).unwrap();
                let mut answer = b"echo:".to_vec();
                answer.extend_from_slice(&body);
                common::server::write_response(
                    stream,
                    200,
                    &[("Content-Type", b"text/plain")],
                    &answer,
                )
                .unwrap();
            }),
        ),
    ]);
    let browser = launch();
    let net = LoopbackNet::new(Duration::from_secs(5));
    let mut options = quick_options();
    options.limits.settle_max = HOLD;
    let cap = browser
        .capture(&srv.url("/"), net.clone(), &options)
        .unwrap();
    assert_eq!(
        srv.hits("/settled"),
        1,
        "the page's handlers never finished"
    );
    assert!(
        cap.dom.contains("data-worker=\"worker got it\""),
        "{}",
        cap.dom
    );
    assert!(
        cap.dom.contains("data-post=\"echo:hello body\""),
        "{}",
        cap.dom
    );
    for url in [
        other_site("/frame.html"),
        other_site("/in-frame.png"),
        srv.url("/worker.js"),
        srv.url("/from-worker.txt"),
        srv.url("/post"),
    ] {
        let e = exchange(&cap, &url);
        assert_eq!(e.status(), Some(200), "{url}");
        assert!(!e.main_frame_navigation, "{url}");
    }
    let post = exchange(&cap, &srv.url("/post"));
    assert_eq!(post.method, "POST");
    assert_eq!(
        post.request_body_sha256.as_deref(),
        Some(sha256_hex(b"hello body").as_str())
    );
    // Only documents of the main frame count as navigations.
    assert_eq!(
        cap.exchanges
            .iter()
            .filter(|e| e.main_frame_navigation)
            .count(),
        1
    );
}

#[test]
fn a_page_that_never_finishes_loading_is_captured_at_its_deadline() {
    if skip() {
        return;
    }
    let _one = serial();
    let srv = TestServer::start(vec![
        (
            "/",
            Route::html("<title>half</title><p>visible<img src=/hang.png>"),
        ),
        ("/hang.png", Route::Hang),
    ]);
    let browser = launch();
    // The network would wait two minutes for the image; the page's deadline comes first.
    let net = LoopbackNet::new(Duration::from_secs(120));
    let mut opts = quick_options();
    opts.limits.deadline = Duration::from_secs(8);
    opts.limits.snapshot_reserve = Duration::from_secs(3);
    let cap = timed(Duration::from_secs(12), || {
        browser.capture(&srv.url("/"), net.clone(), &opts)
    })
    .unwrap();
    assert_eq!(cap.timings.settle, Settle::Deadline);
    assert_eq!(cap.timings.load_ms, None, "the load event never came");
    assert!(cap.timings.settled_ms >= 5000 && cap.timings.settled_ms < 6500);
    let img = exchange(&cap, &srv.url("/hang.png"));
    assert_eq!(failure(img).kind, FailureKind::StillPending);
    assert!(cap.dom.contains("visible"));
    decode_png(&cap.screenshot.png);
    check_pdf(&cap.pdf);
}

#[test]
fn the_sandbox_is_on_unless_root_and_cannot_be_forced_on_as_root() {
    if skip() {
        return;
    }
    let _one = serial();
    let forced = Browser::launch(&BrowserConfig {
        sandbox: Some(true),
        ..BrowserConfig::default()
    });
    if !browser::running_as_root() {
        assert!(forced.unwrap().info().sandbox);
        assert!(launch().info().sandbox);
        return;
    }
    let err = forced.err().expect("Chromium refuses its sandbox as root");
    let text = err.to_string();
    assert!(text.contains("did not start"), "{text}");
    assert!(text.contains("sandbox"), "{text}");
}
