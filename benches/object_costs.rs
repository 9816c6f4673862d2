//! What one archive object costs on a real S3-compatible store (SeaweedFS on loopback) next to
//! the local directory backend, through exhibit's own `Backend` implementations: the figures
//! docs/SCALE.md builds its per-record costs on. Run: `cargo bench --bench object_costs`
//! (needs `weed`, which .ci/test installs). Prints one Markdown table; no assertions.

#[path = "../tests/common/seaweed.rs"]
mod seaweed;

use exhibit::archive::backend::{Backend, LocalBackend, PutMode, PutOutcome};
use exhibit::archive::s3::S3Backend;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn rate(n: u64, secs: f64) -> String {
    format!("{:.0}/s", n as f64 / secs)
}

/// `threads` threads each creating `per` objects of `size` bytes under `prefix`.
fn creates(b: &Arc<dyn Backend>, prefix: &str, size: usize, threads: u64, per: u64) -> f64 {
    let body = vec![b'x'; size];
    let t = Instant::now();
    std::thread::scope(|s| {
        for w in 0..threads {
            let (b, body) = (b.clone(), &body);
            s.spawn(move || {
                for i in 0..per {
                    let r = b.put(&format!("{prefix}/{w}/{i:06}"), body, PutMode::Create);
                    assert!(matches!(r, Ok(PutOutcome::Written { .. })), "{r:?}");
                }
            });
        }
    });
    t.elapsed().as_secs_f64()
}

fn gets(b: &Arc<dyn Backend>, prefix: &str, threads: u64, per: u64) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        for w in 0..threads {
            let b = b.clone();
            s.spawn(move || {
                for i in 0..per {
                    assert!(b.get(&format!("{prefix}/{w}/{i:06}")).unwrap().is_some());
                }
            });
        }
    });
    t.elapsed().as_secs_f64()
}

/// `writers` threads each swapping a shared object `swaps` times by compare-and-swap (read,
/// then write only if unchanged; retry on conflict): the checkpoint of a many-writer log.
/// Returns (seconds, conflicts).
fn cas(b: &Arc<dyn Backend>, name: &str, writers: u64, swaps: u64) -> (f64, u64) {
    b.put(name, b"0", PutMode::Overwrite).unwrap();
    let conflicts = AtomicU64::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..writers {
            let (b, conflicts) = (b.clone(), &conflicts);
            s.spawn(move || {
                let mut done = 0;
                while done < swaps {
                    let (bytes, etag) = b.get(name).unwrap().unwrap();
                    let n: u64 = std::str::from_utf8(&bytes).unwrap().parse().unwrap();
                    let next = (n + 1).to_string();
                    match b.put(name, next.as_bytes(), PutMode::Update(etag)).unwrap() {
                        PutOutcome::Written { .. } => done += 1,
                        _ => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let (bytes, _) = b.get(name).unwrap().unwrap();
    assert_eq!(
        std::str::from_utf8(&bytes).unwrap(),
        (writers * swaps).to_string(),
        "a lost update"
    );
    (secs, conflicts.into_inner())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let per: u64 = if quick { 100 } else { 500 };
    let sw = seaweed::Seaweed::start();
    let s3: Arc<dyn Backend> = Arc::new(
        S3Backend::with_settings(&sw.location("bench"), &sw.settings()).expect("S3 backend"),
    );
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn Backend> = Arc::new(LocalBackend::open(dir.path()).unwrap());
    println!("| operation | local directory | SeaweedFS (S3, loopback) |");
    println!("| --- | ---: | ---: |");
    for (what, size) in [
        ("create 1.4 KB (a manifest)", 1400),
        ("create 8 KB (a page)", 8192),
    ] {
        for threads in [1u64, 8] {
            let tag = format!("c{size}t{threads}");
            let l = creates(&local, &tag, size, threads, per / threads.min(4));
            let r = creates(&s3, &tag, size, threads, per / threads.min(4));
            let n = threads * (per / threads.min(4));
            println!(
                "| {what}, {threads} thread(s) | {} | {} |",
                rate(n, l),
                rate(n, r)
            );
        }
    }
    for threads in [1u64, 8] {
        let tag = format!("c1400t{threads}");
        let n = threads * (per / threads.min(4));
        let l = gets(&local, &tag, threads, per / threads.min(4));
        let r = gets(&s3, &tag, threads, per / threads.min(4));
        println!(
            "| get 1.4 KB, {threads} thread(s) | {} | {} |",
            rate(n, l),
            rate(n, r)
        );
    }
    let t = Instant::now();
    let listed = local.list("c1400t8/").unwrap().len() as u64;
    let l = t.elapsed().as_secs_f64();
    let t = Instant::now();
    assert_eq!(s3.list("c1400t8/").unwrap().len() as u64, listed);
    let r = t.elapsed().as_secs_f64();
    println!(
        "| list (names per second, {listed} objects) | {} | {} |",
        rate(listed, l),
        rate(listed, r)
    );
    for writers in [1u64, 2, 4, 8] {
        let swaps = per / 10;
        let (l, lc) = cas(&local, &format!("cas-{writers}"), writers, swaps);
        let (r, rc) = cas(&s3, &format!("cas-{writers}"), writers, swaps);
        let n = writers * swaps;
        println!(
            "| checkpoint compare-and-swap, {writers} writer(s): swaps (conflicts per swap) | {} ({:.2}) | {} ({:.2}) |",
            rate(n, l),
            lc as f64 / n as f64,
            rate(n, r),
            rc as f64 / n as f64
        );
    }
}
