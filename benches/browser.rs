//! Browser captures per minute: one headless Chromium, `--jobs N` pages at a time, each page a
//! full engine capture (every request through a recording loopback client, DOM, full-page PNG,
//! PDF). Driven by `bash benches/browser`, which also runs the floor (`chromium --headless
//! --screenshot` alone on the same pages) and writes the table; run by hand:
//!
//!   cargo bench --bench browser -- --urls FILE --jobs N
//!
//! Prints one JSON line: pages, failures, wall seconds of the captures (browser start excluded,
//! printed apart), pages per minute, exchanges and bytes fetched. Without `--urls` (plain
//! `cargo bench`) it says how to run it and exits.

use exhibit::capture::browser::{
    Browser, BrowserConfig, BrowserRequest, BrowserResponse, FailureKind, FetchFailure, Network,
    PageOptions,
};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Loopback {
    client: reqwest::blocking::Client,
    bytes: AtomicU64,
}

impl Network for Loopback {
    fn fetch(&self, req: &BrowserRequest) -> Result<BrowserResponse, FetchFailure> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|e| FetchFailure::new(FailureKind::Other, e.to_string()))?;
        let mut rb = self.client.request(method, &req.url);
        for (n, v) in &req.headers {
            rb = rb.header(n, v);
        }
        if let Some(b) = &req.body {
            rb = rb.body(b.clone());
        }
        let fail = |e: reqwest::Error| {
            let kind = if e.is_timeout() {
                FailureKind::Timeout
            } else if e.is_connect() {
                FailureKind::Refused
            } else {
                FailureKind::Other
            };
            FetchFailure::new(kind, e.to_string())
        };
        let resp = rb.send().map_err(fail)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        let body = resp.bytes().map_err(fail)?.to_vec();
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok(BrowserResponse {
            status,
            headers,
            body,
        })
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(urls) = arg("--urls") else {
        eprintln!("browser bench: run `bash benches/browser` (or pass --urls FILE --jobs N)");
        return;
    };
    let jobs: usize = arg("--jobs").map_or(1, |j| j.parse().expect("--jobs N"));
    let urls: Vec<String> = std::fs::read_to_string(&urls)
        .expect("read --urls")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();

    let t = Instant::now();
    let browser = Browser::launch(&BrowserConfig::default()).expect("launch Chromium");
    let launch_s = t.elapsed().as_secs_f64();
    let net = Arc::new(Loopback {
        client: reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        bytes: AtomicU64::new(0),
    });
    let next = AtomicUsize::new(0);
    let exchanges = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let opts = PageOptions::default();
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(url) = urls.get(i) else { return };
                match browser.capture(url, net.clone(), &opts) {
                    Ok(cap) => {
                        assert!(!cap.screenshot.png.is_empty() && cap.pdf.starts_with(b"%PDF"));
                        exchanges.fetch_add(cap.exchanges.len(), Ordering::Relaxed);
                    }
                    Err(e) => failures.lock().unwrap().push(format!("{url}: {e}")),
                }
            });
        }
    });
    let wall = t.elapsed().as_secs_f64();
    let failures = failures.into_inner().unwrap();
    for f in &failures {
        eprintln!("failed: {f}");
    }
    println!(
        "{}",
        serde_json::json!({
            "pages": urls.len(),
            "failures": failures.len(),
            "jobs": jobs,
            "launch_s": launch_s,
            "wall_s": wall,
            "pages_per_min": (urls.len() - failures.len()) as f64 * 60.0 / wall,
            "exchanges": exchanges.load(Ordering::Relaxed),
            "bytes": net.bytes.load(Ordering::Relaxed),
            "browser": browser.info().product,
        })
    );
}
