//! Crash safety and concurrent writers through the real binary: `exhibit capture --from` killed
//! with SIGKILL at random instants, again and again, and several writers at once. After every
//! kill the archive audits clean (an interrupted write is only a warning), and every record whose
//! line was printed is intact and in the log.

mod common;

use common::server::{Route, TestServer};
use common::Env;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

fn serve(n: usize) -> TestServer {
    let routes: Vec<(String, Route)> = (0..n)
        .map(|i| {
            let body = format!(
                "<html><title>page {i}</title><body>{}</body></html>",
                "crash test ".repeat(i % 50 + 1)
            );
            (
                format!("/c{i}"),
                Route::Ok {
                    content_type: "text/html",
                    body: body.into_bytes(),
                },
            )
        })
        .collect();
    common::serve_owned(routes)
}

/// A small deterministic generator, seeded from the clock and printed, so a failing run can be
/// replayed with EXHIBIT_CRASH_SEED.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_at_random_instants_never_damages_the_archive() {
    sigkill_rounds("loose", 100);
}

/// The same for the packed layout (FORMAT.md 3.3): a kill between writing a pack and the
/// checkpoint leaves a pack and `log/places` lines that the next writer rolls back.
#[test]
fn sigkill_at_random_instants_never_damages_a_packed_archive() {
    sigkill_rounds("packed", 50);
}

fn sigkill_rounds(layout: &str, default_kills: usize) {
    let kills: usize = std::env::var("EXHIBIT_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_kills);
    let seed = std::env::var("EXHIBIT_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash test seed {seed} (EXHIBIT_CRASH_SEED to replay), {kills} kills, {layout}");
    let mut rng = Rng(seed);
    let srv = serve(300);
    let env = Env::bare();
    env.ok(&["init", "--layout", layout]);
    let mut printed: HashSet<String> = HashSet::new();
    // Kill instants are spread over the time an uninterrupted run takes on this machine, measured
    // once and then adjusted by each round's outcome (a fixed range would miss the run once
    // capture gets faster, or only ever hit its start).
    let list = env.dir.path().join("urls.txt");
    let urls: Vec<String> = (0..300).map(|i| srv.url(&format!("/c{i}"))).collect();
    std::fs::write(&list, urls.join("\n")).unwrap();
    let started = std::time::Instant::now();
    env.ok(&["capture", "--from", list.to_str().unwrap(), "--jobs", "4"]);
    let mut span_us = (started.elapsed().as_micros() as u64).max(1_000);
    let mut killed_mid_run = 0;
    for round in 0..kills {
        // Different URL sets per round so each run writes new documents and records.
        let start = (rng.next() % 250) as usize;
        let list = env.dir.path().join("urls.txt");
        let urls: Vec<String> = (start..300).map(|i| srv.url(&format!("/c{i}"))).collect();
        std::fs::write(&list, urls.join("\n")).unwrap();
        let mut child = env
            .command(&["capture", "--from", list.to_str().unwrap(), "--jobs", "4"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .map(|l| l.split("  ").next().unwrap().to_string())
                .collect::<Vec<_>>()
        });
        let wait = Duration::from_micros(rng.next() % (span_us * urls.len() as u64 / 300).max(1));
        std::thread::sleep(wait);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if !status.success() {
            killed_mid_run += 1;
            span_us += span_us / 20;
        } else {
            // The run was over before the kill: this machine is faster now than when the span
            // was measured (a first run also creates every shard directory), so aim earlier.
            span_us = (span_us * 3 / 4).max(1_000);
        }
        printed.extend(reader.join().unwrap());
        let (code, report) = env.audit(&[]);
        assert_eq!(
            code, 0,
            "round {round} (seed {seed}, killed after {wait:?}): audit failed: {report:#}"
        );
    }
    println!("{killed_mid_run} of {kills} kills landed mid-run");
    assert!(
        killed_mid_run >= kills / 2,
        "only {killed_mid_run} of {kills} kills landed mid-run"
    );
    // One clean run afterwards rolls back whatever the last kill interrupted.
    env.ok(&["capture", &srv.url("/c0")]);
    let (code, report) = env.audit(&[]);
    assert_eq!(
        (code, report["warnings"].as_u64()),
        (0, Some(0)),
        "{report:#}"
    );
    let listed: HashSet<String> = env
        .ok(&["list"])
        .lines()
        .map(|l| l.split("  ").next().unwrap().to_string())
        .collect();
    let lost: Vec<&String> = printed.iter().filter(|id| !listed.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "records printed but lost after a crash: {lost:?}"
    );
    println!(
        "{} kills mid-run, {} records printed, {} in the log",
        killed_mid_run,
        printed.len(),
        listed.len()
    );
}

#[test]
fn four_writers_two_hundred_captures_each() {
    four_writers("loose");
}

#[test]
fn four_writers_two_hundred_captures_each_into_a_packed_archive() {
    four_writers("packed");
}

fn four_writers(layout: &str) {
    let srv = serve(800);
    let env = Env::bare();
    env.ok(&["init", "--layout", layout]);
    let t = Instant::now();
    let children: Vec<_> = (0..4)
        .map(|w| {
            let urls: Vec<String> = (0..200)
                .map(|i| srv.url(&format!("/c{}", w * 200 + i)))
                .collect();
            env.spawn_capture(&format!("w{w}.txt"), &urls)
        })
        .collect();
    let mut printed = HashSet::new();
    for c in children {
        for id in common::printed_ids(c) {
            assert!(printed.insert(id), "duplicate record ID");
        }
    }
    assert_eq!(printed.len(), 800);
    let (code, report) = env.audit(&[]);
    assert_eq!(code, 0, "{report:#}");
    // The founding key record, then the 800 captures.
    assert_eq!(report["tree_size"], 801);
    assert_eq!(report["records"], 801);
    println!("4 x 200 concurrent captures in {:?}", t.elapsed());
}

/// Readers need no lock (FORMAT.md 10): an audit that runs while another process commits sees
/// the archive as of the checkpoint it read, and the commit under way as warnings at most. It
/// once listed the files before reading the checkpoint, so a commit landing in between cited a
/// document or pack the listing had missed, and a healthy archive audited as damaged.
#[test]
fn audits_while_a_writer_commits_find_no_damage() {
    audits_while_a_writer_commits("loose");
}

#[test]
fn audits_while_a_writer_commits_find_no_damage_in_a_packed_archive() {
    audits_while_a_writer_commits("packed");
}

fn audits_while_a_writer_commits(layout: &str) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let srv = serve(120);
    let env = Env::bare();
    env.ok(&["init", "--layout", layout]);
    let done = AtomicBool::new(false);
    let finished = AtomicUsize::new(0);
    let audits = std::thread::scope(|s| {
        // One process per URL: a commit, and so a new checkpoint, every few milliseconds.
        let writer = s.spawn(|| {
            for i in 0..120 {
                // Every tenth commit waits (a minute at most) for an audit to finish since the
                // last such wait: at least ten audits run during the commits on a loaded
                // machine too, where the writer could otherwise outrun the auditor.
                if i % 12 == 11 {
                    let seen = finished.load(Ordering::SeqCst);
                    let t = Instant::now();
                    while finished.load(Ordering::SeqCst) == seen
                        && !done.load(Ordering::SeqCst)
                        && t.elapsed() < Duration::from_secs(60)
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                env.ok(&["capture", &srv.url(&format!("/c{i}"))]);
            }
            done.store(true, Ordering::SeqCst);
        });
        while !done.load(Ordering::SeqCst) {
            let (code, report) = env.audit(&[]);
            let audits = finished.load(Ordering::SeqCst);
            if code != 0 {
                done.store(true, Ordering::SeqCst);
                panic!("audit {audits} during the commits failed: {report:#}");
            }
            finished.store(audits + 1, Ordering::SeqCst);
        }
        writer.join().unwrap();
        finished.load(Ordering::SeqCst)
    });
    println!("{audits} audits during 120 commits ({layout})");
    assert!(audits >= 10, "only {audits} audits ran during the commits");
    env.assert_audit_clean();
}
