//! An archive on object storage against the same archive on a local disk, on the same pages in
//! the same run (issue 13): capture pages/s into `s3://` vs a directory, audit of the same
//! records on both, and what a record costs on the store (objects and bytes). SeaweedFS on
//! loopback (needs `weed`, which .ci/test installs). Prints one Markdown table; no assertions.
//!
//!   cargo bench --bench s3_archive                  # 2,000 pages, 3 runs each, interleaved
//!   cargo bench --bench s3_archive -- --pages 100000 --runs 1
//!
//! The audit figure uses a store copy made by `exhibit mirror` of the local archive (the same
//! records, byte for byte), so that it measures audit, not a second capture.

#[path = "../tests/common/seaweed.rs"]
mod seaweed;
#[path = "../tests/common/server.rs"]
mod server;

use exhibit::archive::backend::Backend;
use exhibit::archive::s3::S3Backend;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_exhibit");

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A page of about 16 KB of varied text, like the corpus of issue 15 (16.4 KB on average).
fn page(i: usize) -> Vec<u8> {
    let words = [
        "policy",
        "data",
        "the",
        "of",
        "processing",
        "user",
        "consent",
        "retention",
        "we",
        "may",
        "share",
        "partners",
        "account",
        "cookies",
        "rights",
        "request",
        "law",
    ];
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut body = format!("<!doctype html><title>Policy {i}</title><main><h1>Section {i}</h1><p>");
    while body.len() < 16_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        body.push_str(words[(x % words.len() as u64) as usize]);
        body.push(if x.is_multiple_of(29) { '.' } else { ' ' });
        if x.is_multiple_of(211) {
            body.push_str(&format!("</p><p>clause {} of {i}: ", x % 1000));
        }
    }
    body.push_str("</p></main>");
    body.into_bytes()
}

fn exhibit(archive: &str, cache: &Path, settings: &[(String, String)], args: &[&str]) -> f64 {
    let t = Instant::now();
    let o = Command::new(BIN)
        .args(args)
        .env("EXHIBIT_ARCHIVE", archive)
        .env("EXHIBIT_CACHE", cache)
        .env("EXHIBIT_ALLOW_PRIVATE", "1")
        .env("NO_COLOR", "1")
        .envs(settings.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(
        o.status.success(),
        "exhibit {args:?} on {archive}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let pages = arg("--pages", 2000);
    let runs = arg("--runs", 3).max(1);
    let sw = seaweed::Seaweed::start();
    let settings = sw.settings();
    let srv = server::TestServer::start(
        (0..pages)
            .map(|i| (format!("/p{i}"), server::Route::html(page(i))))
            .collect::<Vec<_>>()
            .iter()
            .map(|(p, r)| (p.as_str(), r.clone()))
            .collect(),
    );
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("signing.key");
    let list = work.path().join("urls.txt");
    let urls: Vec<String> = (0..pages).map(|i| srv.url(&format!("/p{i}"))).collect();
    std::fs::write(&list, urls.join("\n")).unwrap();
    let list = list.to_str().unwrap().to_string();
    let keyed = |mut s: Vec<(String, String)>| {
        s.push(("EXHIBIT_KEY".into(), key.to_str().unwrap().into()));
        s
    };
    let local_env = keyed(Vec::new());
    let s3_env = keyed(settings.clone());
    let capture = ["capture", "--init", "--from", &list, "--jobs", "16"];

    // Capture, interleaved: a fresh archive (and a fresh cache) per run.
    let (mut t_local, mut t_s3) = (Vec::new(), Vec::new());
    let mut last_local = String::new();
    let mut last_prefix = String::new();
    for run in 0..runs {
        let dir = work.path().join(format!("local{run}"));
        let cache = work.path().join(format!("cache{run}"));
        t_local.push(exhibit(dir.to_str().unwrap(), &cache, &local_env, &capture));
        let prefix = format!("cap{run}");
        let url = format!("s3://{}/{prefix}", seaweed::BUCKET);
        t_s3.push(exhibit(&url, &cache, &s3_env, &capture));
        last_local = dir.to_str().unwrap().to_string();
        last_prefix = prefix;
    }
    let (cl, cs) = (median(t_local), median(t_s3));

    // What the store holds per record.
    let store = S3Backend::with_settings(&sw.location(&last_prefix), &settings).unwrap();
    let listed = store.list("").unwrap();
    let bytes: u64 = listed.iter().map(|m| m.size).sum();
    let records = pages as f64 + 1.0;

    // Audit: the same records on both (the store's copy made by mirror).
    let audit_prefix = format!("s3://{}/audit", seaweed::BUCKET);
    let cache = work.path().join("cache-audit");
    exhibit(
        &last_local,
        &cache,
        &s3_env,
        &["mirror", &last_local, &audit_prefix],
    );
    let (mut a_local, mut a_s3) = (Vec::new(), Vec::new());
    let pin = format!("{}.pub", key.display());
    for _ in 0..runs {
        a_local.push(exhibit(
            &last_local,
            &cache,
            &local_env,
            &["audit", "--trusted-key", &pin],
        ));
        a_s3.push(exhibit(
            &audit_prefix,
            &cache,
            &s3_env,
            &["audit", "--trusted-key", &pin],
        ));
    }
    let (al, as_) = (median(a_local), median(a_s3));

    println!(
        "{pages} pages of about 16 KB, median of {runs} interleaved runs, SeaweedFS on loopback"
    );
    println!();
    println!("| | local directory | s3:// (SeaweedFS) | s3 / local |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| capture --from, --jobs 16 | {:.1} s ({:.0} pages/s) | {:.1} s ({:.0} pages/s) | {:.2} |",
        cl,
        pages as f64 / cl,
        cs,
        pages as f64 / cs,
        cl / cs
    );
    println!(
        "| audit --trusted-key | {:.2} s ({:.0} records/s) | {:.2} s ({:.0} records/s) | {:.2} |",
        al,
        records / al,
        as_,
        records / as_,
        al / as_
    );
    println!();
    println!(
        "Store after capture: {} objects ({:.4} per record), {:.0} bytes per record.",
        listed.len(),
        listed.len() as f64 / records,
        bytes as f64 / records
    );
}
