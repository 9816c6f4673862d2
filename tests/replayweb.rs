//! ReplayWeb.page, the Webrecorder viewer that reads WACZ in the browser (npm `replaywebpage`,
//! pinned and fetched by .ci/test), replays a browser capture from exhibit's WACZ export in
//! headless Chromium: the screenshot shows the block a script inserted after fetching JSON,
//! drawn by the page's stylesheet, and the page's own server sees no request while it replays.
//! Issue 11's last judge; tools not ours decide.

mod common;

use common::server::{Route, TestServer};
use common::Env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn replaywebpage() -> PathBuf {
    let dir = std::env::var_os("EXHIBIT_REPLAYWEBPAGE").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/test-tools/replaywebpage-2.5.3/package")
        },
        PathBuf::from,
    );
    assert!(
        dir.join("ui.js").is_file() && dir.join("sw.js").is_file(),
        "ReplayWeb.page is not at {} (run `bash .ci/test` once, which fetches it with `npm pack replaywebpage@2.5.3`)",
        dir.display()
    );
    dir
}

const BLOCK: [u8; 3] = [17, 170, 51];

fn block_pixels(png_bytes: &[u8]) -> usize {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a valid PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a valid PNG frame");
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    buf[..info.buffer_size()]
        .chunks(step)
        .filter(|p| p[..3] == BLOCK)
        .count()
}

#[test]
fn replaywebpage_renders_a_browser_capture_from_the_wacz() {
    if std::env::var_os("EXHIBIT_SKIP_BROWSER").is_some_and(|v| v == "1") {
        eprintln!("\n!!! SKIPPED: EXHIBIT_SKIP_BROWSER=1, ReplayWeb.page was NOT tested !!!\n");
        return;
    }
    let rwp = replaywebpage();
    let origin = TestServer::start(vec![
        (
            "/",
            Route::html(
                b"<!doctype html><title>Replay me</title><link rel=stylesheet href=/s.css>\
                  <div id=out></div><script>fetch('/data.json').then(r => r.json()).then(d => {\
                  const e = document.createElement('div'); e.className = 'block';\
                  e.textContent = d.text; document.getElementById('out').append(e); });</script>"
                    .to_vec(),
            ),
        ),
        (
            "/s.css",
            Route::Status {
                status: 200,
                reason: "OK",
                content_type: "text/css",
                body: b"body { margin: 0 } .block { background: rgb(17, 170, 51); width: 600px; height: 300px; color: white }"
                    .to_vec(),
                headers: vec![],
            },
        ),
        (
            "/data.json",
            Route::Status {
                status: 200,
                reason: "OK",
                content_type: "application/json",
                body: br#"{"text": "inserted by a script"}"#.to_vec(),
                headers: vec![],
            },
        ),
    ]);
    let env = Env::new();
    let url = origin.url("/");
    let r = env.run(&["capture", "--browser", "--json", "--timeout", "8", &url]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let line: serde_json::Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    let id = line["record_id"].as_str().unwrap().to_string();
    // What the replay must show is in the record: a blank replay below is the viewer's doing.
    let dom = env
        .command(&["cat", &id, "--part", "dom"])
        .output()
        .unwrap();
    assert!(dom.status.success(), "{dom:?}");
    assert!(
        String::from_utf8_lossy(&dom.stdout).contains("inserted by a script"),
        "the capture's DOM lacks the script's block: {}",
        String::from_utf8_lossy(&dom.stdout)
    );
    let shot = env
        .command(&["cat", &id, "--part", "screenshot"])
        .output()
        .unwrap();
    assert!(shot.status.success(), "{shot:?}");
    let captured = block_pixels(&shot.stdout);
    assert!(
        captured >= 600 * 300 * 9 / 10,
        "the capture's own screenshot shows {captured} pixels of the block"
    );

    // The viewer's files and the WACZ, from one loopback server with Range requests.
    let site = env.dir.path().join("site");
    std::fs::create_dir_all(site.join("replay")).unwrap();
    std::fs::copy(rwp.join("ui.js"), site.join("ui.js")).unwrap();
    std::fs::copy(rwp.join("sw.js"), site.join("replay/sw.js")).unwrap();
    env.ok(&[
        "export",
        &id,
        "--format",
        "wacz",
        "--out",
        site.join("x.wacz").to_str().unwrap(),
    ]);
    std::fs::write(
        site.join("index.html"),
        format!(
            "<!doctype html><meta charset=utf-8><script src=\"/ui.js\"></script>\
             <style>html,body{{margin:0;height:100%}} replay-web-page{{display:block;height:100%}}</style>\
             <replay-web-page source=\"/x.wacz\" url=\"{url}\" replayBase=\"/replay/\" embed=\"replayonly\"></replay-web-page>"
        ),
    )
    .unwrap();
    let helpers = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/replayweb");
    let port_file = env.dir.path().join("port");
    let mut server = Command::new("python3")
        .arg(helpers.join("rangeserver.py"))
        .arg(&site)
        .arg(&port_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            if let Ok(p) = p.trim().parse::<u16>() {
                break p;
            }
        }
        assert!(Instant::now() < deadline, "the file server did not start");
        std::thread::sleep(Duration::from_millis(50));
    };

    let before = origin.hits("/") + origin.hits("/s.css") + origin.hits("/data.json");
    // Each attempt is a fresh headless Chromium with a fresh profile. A second one only guards
    // against the viewer's own start-up (service worker install) stalling on a loaded machine, as
    // one CI run saw: a WACZ it cannot replay fails both, and their screenshots are kept.
    let mut seen = Vec::new();
    let mut best = 0;
    for attempt in 0..2 {
        let shots = env.dir.path().join(format!("shot{attempt}"));
        let out = Command::new("python3")
            .arg(helpers.join("cdpshot.py"))
            .arg(format!("http://127.0.0.1:{port}/index.html"))
            .arg(&shots)
            .args(["5", "10", "15", "25"])
            .output()
            .expect("python3");
        assert!(out.status.success(), "{out:?}");
        for i in 0..4 {
            let png = format!("{}.{i}.png", shots.display());
            let pixels = block_pixels(&std::fs::read(&png).unwrap());
            best = best.max(pixels);
            seen.push((png, pixels));
        }
        // The block is 600 x 300 CSS pixels: ReplayWeb.page drew it from the WACZ alone.
        if best >= 600 * 300 * 9 / 10 {
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    eprintln!(
        "pixels of the block per screenshot: {:?}",
        seen.iter().map(|(_, n)| n).collect::<Vec<_>>()
    );
    if best < 600 * 300 * 9 / 10 {
        let keep = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/tmp")
            .join(format!("replayweb-failed-{}", std::process::id()));
        std::fs::create_dir_all(&keep).unwrap();
        for (png, _) in &seen {
            let name = Path::new(png).file_name().unwrap();
            std::fs::copy(png, keep.join(name)).unwrap();
        }
        std::fs::copy(site.join("x.wacz"), keep.join("x.wacz")).unwrap();
        panic!(
            "ReplayWeb.page never drew the block (pixels per screenshot: {:?}); screenshots and the WACZ kept in {}",
            seen.iter().map(|(_, n)| n).collect::<Vec<_>>(),
            keep.display()
        );
    }
    let after = origin.hits("/") + origin.hits("/s.css") + origin.hits("/data.json");
    assert_eq!(
        after, before,
        "the page's own server was asked during the replay"
    );
}
