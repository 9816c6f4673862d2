//! One conformance suite for every storage backend (archive/backend.rs): the local directory and
//! S3-compatible object storage, the latter on a real SeaweedFS on loopback (common/seaweed.rs).
//! Whatever the archive's commit protocol will assume of a backend is asserted here, the same way
//! for each: reads, ranged reads, version tags, sorted and paginated listings, create-only and
//! compare-and-swap writes under contention, deletes, streamed uploads, refused names.

mod common;

use common::seaweed::{Seaweed, ACCESS_KEY, SECRET_KEY};
use exhibit::archive::backend::{Backend, LocalBackend, PutMode, PutOutcome};
use exhibit::archive::s3::S3Backend;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;

type Case = fn(&dyn Backend);

const CASES: [(&str, Case); 13] = [
    ("round trip", round_trip),
    ("ranged reads", ranged_reads),
    ("version tags follow content", version_tags_follow_content),
    ("listing by prefix, sorted", listing_by_prefix),
    ("listing past one page", listing_past_one_page),
    ("create refuses an existing name", create_refuses_existing),
    ("one of many concurrent creators wins", concurrent_creators),
    (
        "update needs the current version",
        update_needs_current_version,
    ),
    ("one of many concurrent updaters wins", concurrent_updaters),
    (
        "updaters that retry lose nothing",
        counter_by_compare_and_swap,
    ),
    ("delete", delete),
    ("put_file streams a large file", put_file_large),
    ("invalid names are refused", invalid_names),
];

/// Every case, each reported by name; all run even after one fails.
fn conforms(b: &dyn Backend) {
    let failed: Vec<&str> = CASES
        .iter()
        .filter(|(name, case)| {
            eprintln!("{}: {name}", b.describe());
            panic::catch_unwind(AssertUnwindSafe(|| case(b))).is_err()
        })
        .map(|(name, _)| *name)
        .collect();
    assert!(failed.is_empty(), "{}: failed: {failed:?}", b.describe());
}

#[test]
fn local_backend_conforms() {
    let t = tempfile::tempdir().unwrap();
    conforms(&LocalBackend::open(t.path()).unwrap());
}

#[test]
fn s3_backend_conforms() {
    let sw = Seaweed::start();
    let b = S3Backend::with_settings(&sw.location("conformance/archive"), &sw.settings()).unwrap();
    conforms(&b);
    // Called from inside a runtime, as an async caller (serve) might: blocking, never a panic.
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            written(b.put("in-runtime", b"x", PutMode::Overwrite).unwrap());
            assert_eq!(b.get("in-runtime").unwrap().unwrap().0, b"x");
        });
    // Objects are plain keys PREFIX/NAME, as any other S3 tool (or a static server of a tiled
    // log) would look for them.
    assert_eq!(
        sw.read_via_filer("conformance/archive/rt/a").as_deref(),
        Some(&b"replaced"[..])
    );
    assert_eq!(
        sw.read_via_filer("conformance/archive/race/counter")
            .as_deref(),
        Some(&b"20"[..])
    );
    // The prefix is the archive's: nothing was written outside it.
    let whole = S3Backend::with_settings(&sw.location(""), &sw.settings()).unwrap();
    let outside: Vec<String> = whole
        .list("")
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .filter(|n| !n.starts_with("conformance/archive/"))
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
}

fn written(o: PutOutcome) -> String {
    match o {
        PutOutcome::Written { etag } => etag,
        other => panic!("expected Written, got {other:?}"),
    }
}

fn round_trip(b: &dyn Backend) {
    let all: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    written(b.put("rt/a", &all, PutMode::Overwrite).unwrap());
    assert_eq!(b.get("rt/a").unwrap().unwrap().0, all);
    written(b.put("rt/a", b"replaced", PutMode::Overwrite).unwrap());
    assert_eq!(b.get("rt/a").unwrap().unwrap().0, b"replaced");
    written(b.put("rt/empty", b"", PutMode::Overwrite).unwrap());
    assert_eq!(b.get("rt/empty").unwrap().unwrap().0, b"");
    assert_eq!(b.head("rt/empty").unwrap().unwrap().size, 0);
    assert!(b.get("rt/missing").unwrap().is_none());
    b.barrier().unwrap();
}

fn ranged_reads(b: &dyn Backend) {
    let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    b.put("range/x", &bytes, PutMode::Overwrite).unwrap();
    assert_eq!(b.get_range("range/x", 0, 10).unwrap(), &bytes[..10]);
    assert_eq!(b.get_range("range/x", 500, 123).unwrap(), &bytes[500..623]);
    assert_eq!(b.get_range("range/x", 990, 10).unwrap(), &bytes[990..]);
    // Past the end: what there is, then nothing.
    assert_eq!(b.get_range("range/x", 995, 10).unwrap(), &bytes[995..]);
    assert_eq!(
        b.get_range("range/x", 999, u64::MAX).unwrap(),
        &bytes[999..]
    );
    assert!(b.get_range("range/x", 1000, 5).unwrap().is_empty());
    assert!(b.get_range("range/x", 5000, 5).unwrap().is_empty());
    assert!(b.get_range("range/x", 10, 0).unwrap().is_empty());
    assert!(b.get_range("range/missing", 0, 10).is_err());
}

fn version_tags_follow_content(b: &dyn Backend) {
    assert!(b.head("tag/x").unwrap().is_none());
    let e1 = written(b.put("tag/x", b"one", PutMode::Overwrite).unwrap());
    let h1 = b.head("tag/x").unwrap().unwrap();
    assert_eq!((h1.name.as_str(), h1.size), ("tag/x", 3));
    assert!(!e1.is_empty());
    assert_eq!(h1.etag, e1, "head and put name the same version");
    assert_eq!(b.get("tag/x").unwrap().unwrap().1, e1, "and so does get");
    let e2 = written(b.put("tag/x", b"two!", PutMode::Overwrite).unwrap());
    assert_ne!(e1, e2);
    let h2 = b.head("tag/x").unwrap().unwrap();
    assert_eq!((h2.etag.as_str(), h2.size), (e2.as_str(), 4));
}

fn names(b: &dyn Backend, prefix: &str) -> Vec<String> {
    b.list(prefix)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect()
}

fn listing_by_prefix(b: &dyn Backend) {
    for n in ["ls/b", "ls/a", "ls/c/d", "ls/c2", "lsx/e", "ls/c/e/f"] {
        b.put(n, n.as_bytes(), PutMode::Overwrite).unwrap();
    }
    assert_eq!(
        names(b, "ls/"),
        ["ls/a", "ls/b", "ls/c/d", "ls/c/e/f", "ls/c2"]
    );
    assert_eq!(names(b, "ls/c"), ["ls/c/d", "ls/c/e/f", "ls/c2"]);
    assert_eq!(names(b, "ls/c/"), ["ls/c/d", "ls/c/e/f"]);
    assert_eq!(names(b, "ls/c/e/f"), ["ls/c/e/f"]);
    assert_eq!(
        names(b, "ls"),
        ["ls/a", "ls/b", "ls/c/d", "ls/c/e/f", "ls/c2", "lsx/e"]
    );
    assert!(names(b, "nothing/").is_empty());
    assert!(names(b, "ls/zz").is_empty());
    let sizes: Vec<u64> = b.list("ls/c/").unwrap().iter().map(|m| m.size).collect();
    assert_eq!(sizes, [6, 8]);
    // The whole store, as `list("")`: every name seen, each once.
    let all = names(b, "");
    assert!(all.contains(&"lsx/e".to_string()) && all.contains(&"ls/a".to_string()));
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all, sorted);
}

/// S3 returns at most 1000 names per request: a listing must follow the continuation.
fn listing_past_one_page(b: &dyn Backend) {
    const N: usize = 1100;
    std::thread::scope(|s| {
        for t in 0..8 {
            s.spawn(move || {
                for i in (t..N).step_by(8) {
                    b.put(&format!("many/{i:05}"), b"x", PutMode::Overwrite)
                        .unwrap();
                }
            });
        }
    });
    let got = names(b, "many/");
    let want: Vec<String> = (0..N).map(|i| format!("many/{i:05}")).collect();
    assert_eq!(got.len(), N);
    assert_eq!(got, want);
    assert_eq!(names(b, "many/0099").len(), 10, "a prefix inside a page");
}

fn create_refuses_existing(b: &dyn Backend) {
    written(b.put("cr/x", b"first", PutMode::Create).unwrap());
    assert_eq!(
        b.put("cr/x", b"second", PutMode::Create).unwrap(),
        PutOutcome::Exists
    );
    assert_eq!(
        b.put("cr/x", b"first", PutMode::Create).unwrap(),
        PutOutcome::Exists,
        "even with the same bytes"
    );
    assert_eq!(b.get("cr/x").unwrap().unwrap().0, b"first");
    // A name that is a folder of other names is still free as an object name elsewhere.
    written(b.put("cr/y", b"y", PutMode::Create).unwrap());
}

/// Several rounds: one lucky interleaving must not pass for atomicity.
const ROUNDS: usize = 5;

fn concurrent_creators(b: &dyn Backend) {
    for round in 0..ROUNDS {
        one_creator_wins(b, &format!("race/create-{round}"));
    }
}

/// `N` threads make one conditional write each, all at the same instant (after `before`, which
/// reads what the write is conditional on); exactly one must be written. Returns every
/// outcome and the winner.
fn race<T>(
    before: impl Fn() -> T + Sync,
    write: impl Fn(usize, T) -> PutOutcome + Sync,
) -> (Vec<(usize, PutOutcome)>, usize) {
    const N: usize = 8;
    let start = Barrier::new(N);
    let outcomes: Vec<(usize, PutOutcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let (start, before, write) = (&start, &before, &write);
                s.spawn(move || {
                    let read = before();
                    start.wait();
                    (i, write(i, read))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, PutOutcome::Written { .. }))
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    (outcomes, winners[0])
}

fn one_creator_wins(b: &dyn Backend, name: &str) {
    let (outcomes, winner) = race(
        || (),
        |i, ()| {
            b.put(name, format!("writer {i}").as_bytes(), PutMode::Create)
                .unwrap()
        },
    );
    assert!(outcomes
        .iter()
        .all(|(_, o)| matches!(o, PutOutcome::Written { .. } | PutOutcome::Exists)));
    assert_eq!(
        b.get(name).unwrap().unwrap().0,
        format!("writer {winner}").as_bytes()
    );
}

fn update_needs_current_version(b: &dyn Backend) {
    let e1 = written(b.put("cas/x", b"v1", PutMode::Overwrite).unwrap());
    let e2 = written(b.put("cas/x", b"v2", PutMode::Update(e1.clone())).unwrap());
    assert_eq!(
        b.put("cas/x", b"stale", PutMode::Update(e1)).unwrap(),
        PutOutcome::Conflict
    );
    assert_eq!(
        b.put(
            "cas/x",
            b"made up",
            PutMode::Update("\"0123456789abcdef\"".into())
        )
        .unwrap(),
        PutOutcome::Conflict
    );
    assert_eq!(b.get("cas/x").unwrap().unwrap().0, b"v2");
    written(b.put("cas/x", b"v3", PutMode::Update(e2)).unwrap());
    assert_eq!(b.get("cas/x").unwrap().unwrap().0, b"v3");
    assert_eq!(
        b.put("cas/missing", b"x", PutMode::Update("\"abc\"".into()))
            .unwrap(),
        PutOutcome::Conflict,
        "nothing to update"
    );
    assert!(b.get("cas/missing").unwrap().is_none());
}

fn concurrent_updaters(b: &dyn Backend) {
    for round in 0..ROUNDS {
        one_updater_wins(b, &format!("race/cas-{round}"));
    }
}

fn one_updater_wins(b: &dyn Backend, name: &str) {
    written(b.put(name, b"start", PutMode::Overwrite).unwrap());
    // Everyone has read the same version before anyone writes.
    let (_, winner) = race(
        || b.get(name).unwrap().unwrap().1,
        |i, etag| {
            b.put(
                name,
                format!("updater {i}").as_bytes(),
                PutMode::Update(etag),
            )
            .unwrap()
        },
    );
    assert_eq!(
        b.get(name).unwrap().unwrap().0,
        format!("updater {winner}").as_bytes()
    );
}

/// The checkpoint swap's shape: read, compute, write if unchanged, else read again. No
/// increment may be lost and none counted twice.
fn counter_by_compare_and_swap(b: &dyn Backend) {
    const THREADS: usize = 4;
    const EACH: usize = 5;
    written(b.put("race/counter", b"0", PutMode::Create).unwrap());
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(move || {
                for _ in 0..EACH {
                    loop {
                        let (bytes, etag) = b.get("race/counter").unwrap().unwrap();
                        let n: usize = String::from_utf8(bytes).unwrap().parse().unwrap();
                        let next = (n + 1).to_string();
                        match b
                            .put("race/counter", next.as_bytes(), PutMode::Update(etag))
                            .unwrap()
                        {
                            PutOutcome::Written { .. } => break,
                            PutOutcome::Conflict => continue,
                            PutOutcome::Exists => panic!("Exists from an update"),
                        }
                    }
                }
            });
        }
    });
    assert_eq!(
        b.get("race/counter").unwrap().unwrap().0,
        (THREADS * EACH).to_string().as_bytes()
    );
}

fn delete(b: &dyn Backend) {
    b.put("del/x", b"x", PutMode::Overwrite).unwrap();
    b.put("del/y", b"y", PutMode::Overwrite).unwrap();
    b.delete("del/x").unwrap();
    assert!(b.get("del/x").unwrap().is_none());
    assert!(b.head("del/x").unwrap().is_none());
    assert_eq!(names(b, "del/"), ["del/y"]);
    b.delete("del/x").unwrap();
    b.delete("del/never/was").unwrap();
    // A deleted name can be created again.
    written(b.put("del/x", b"again", PutMode::Create).unwrap());
}

/// 64 MiB through `put_file`: written from a file (the backend maps or streams it; it is never
/// built in memory here either), read back by hash and by range.
fn put_file_large(b: &dyn Backend) {
    const SIZE: usize = 64 * 1024 * 1024;
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("big");
    let mut hash = Sha256::new();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut block = [0u8; 64 * 1024];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..SIZE / block.len() {
            for chunk in block.chunks_mut(8) {
                // xorshift: incompressible, so no store can shortcut it.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            hash.update(block);
            f.write_all(&block).unwrap();
        }
        f.flush().unwrap();
    }
    let want = hex(hash.finalize().as_slice());
    let etag = written(b.put_file("big/doc", &path, PutMode::Create).unwrap());
    assert_eq!(
        b.put_file("big/doc", &path, PutMode::Create).unwrap(),
        PutOutcome::Exists
    );
    let h = b.head("big/doc").unwrap().unwrap();
    assert_eq!((h.size, h.etag.as_str()), (SIZE as u64, etag.as_str()));
    let (got, _) = b.get("big/doc").unwrap().unwrap();
    assert_eq!(hex(&Sha256::digest(&got)), want);
    let mut f = std::fs::File::open(&path).unwrap();
    let mut tail = vec![0u8; 1000];
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(SIZE as u64 - 1000))
        .unwrap();
    f.read_exact(&mut tail).unwrap();
    assert_eq!(
        b.get_range("big/doc", SIZE as u64 - 1000, 4096).unwrap(),
        tail
    );
    drop(got);
    // A conditional replacement from a file, and an empty file.
    let small = t.path().join("small");
    std::fs::write(&small, b"small").unwrap();
    written(
        b.put_file("big/doc", &small, PutMode::Update(etag))
            .unwrap(),
    );
    assert_eq!(b.get("big/doc").unwrap().unwrap().0, b"small");
    let empty = t.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    written(b.put_file("big/empty", &empty, PutMode::Overwrite).unwrap());
    assert_eq!(b.get("big/empty").unwrap().unwrap().0, b"");
    assert!(b
        .put_file(
            "big/none",
            &t.path().join("no-such-file"),
            PutMode::Overwrite
        )
        .is_err());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn invalid_names(b: &dyn Backend) {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("f");
    std::fs::write(&file, b"f").unwrap();
    for name in [
        "", "/a", "a/", "a//b", "..", "../x", "a/../b", ".", "a/./b", "a\0b",
    ] {
        assert!(
            b.put(name, b"x", PutMode::Overwrite).is_err(),
            "put {name:?}"
        );
        assert!(
            b.put(name, b"x", PutMode::Create).is_err(),
            "create {name:?}"
        );
        assert!(
            b.put_file(name, &file, PutMode::Overwrite).is_err(),
            "put_file {name:?}"
        );
        assert!(b.get(name).is_err(), "get {name:?}");
        assert!(b.head(name).is_err(), "head {name:?}");
        assert!(b.get_range(name, 0, 1).is_err(), "get_range {name:?}");
        assert!(b.delete(name).is_err(), "delete {name:?}");
    }
}

/// A server killed (a crash) and started again while a writer is busy: the writer's calls
/// either succeed or fail with an error (the client retries through the outage), nothing
/// acknowledged before, during or after is lost, and everything works afterwards.
#[test]
fn s3_backend_survives_a_server_restart() {
    let mut sw = Seaweed::start();
    let b = S3Backend::with_settings(&sw.location("restart"), &sw.settings()).unwrap();
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let name = format!("before/{i:03}");
        written(b.put(&name, name.as_bytes(), PutMode::Create).unwrap());
        acknowledged.push(name);
    }
    let cas = written(b.put("checkpoint", b"1", PutMode::Create).unwrap());
    // The writer runs from before the kill until it has written 10 objects after the restart,
    // so its calls span the outage whatever the timing.
    let writes = AtomicUsize::new(0);
    let restarted = AtomicBool::new(false);
    let (during, failed) = std::thread::scope(|s| {
        let (b, writes, restarted) = (&b, &writes, &restarted);
        let writer = s.spawn(move || {
            let (mut ok, mut failed, mut after) = (Vec::new(), 0, 0);
            for i in 0.. {
                let was_restarted = restarted.load(Ordering::SeqCst);
                let name = format!("during/{i:05}");
                match b.put(&name, name.as_bytes(), PutMode::Create) {
                    Ok(PutOutcome::Written { .. }) => ok.push(name),
                    // A retried create whose first attempt landed.
                    Ok(PutOutcome::Exists) => {}
                    Ok(other) => panic!("{other:?}"),
                    Err(e) => {
                        eprintln!("during the restart: {e}");
                        failed += 1;
                    }
                }
                writes.fetch_add(1, Ordering::SeqCst);
                if was_restarted {
                    after += 1;
                    if after == 10 {
                        break;
                    }
                }
            }
            (ok, failed)
        });
        while writes.load(Ordering::SeqCst) < 5 {
            std::thread::yield_now();
        }
        sw.kill();
        sw.start_again();
        restarted.store(true, Ordering::SeqCst);
        writer.join().unwrap()
    });
    eprintln!(
        "{} writes acknowledged around the restart, {failed} failed",
        during.len()
    );
    assert!(!during.is_empty());
    acknowledged.extend(during);
    for name in &acknowledged {
        assert_eq!(
            b.get(name).unwrap().map(|(bytes, _)| bytes),
            Some(name.as_bytes().to_vec()),
            "{name} was acknowledged and is lost"
        );
    }
    // After: writes, conditional writes and listings as before.
    written(b.put("after/x", b"x", PutMode::Create).unwrap());
    assert_eq!(
        b.put("after/x", b"y", PutMode::Create).unwrap(),
        PutOutcome::Exists
    );
    let cas2 = written(
        b.put("checkpoint", b"2", PutMode::Update(cas.clone()))
            .unwrap(),
    );
    assert_eq!(
        b.put("checkpoint", b"3", PutMode::Update(cas)).unwrap(),
        PutOutcome::Conflict
    );
    assert_eq!(b.head("checkpoint").unwrap().unwrap().etag, cas2);
    assert_eq!(names(&b, "before/").len(), 20);
    // A graceful restart too.
    sw.restart();
    assert_eq!(b.get("after/x").unwrap().unwrap().0, b"x");
    assert_eq!(names(&b, "before/").len(), 20);
}

/// Credentials reach the store and nothing else: not Debug output, not an error message, not
/// when the store refuses them, not when a request fails for another reason.
#[test]
fn s3_credentials_never_appear_in_messages() {
    let sw = Seaweed::start();
    let wrong_secret = "wrong-secret-3b9e-never-print";
    let mut settings = sw.settings();
    for (k, v) in settings.iter_mut() {
        if k == "AWS_SECRET_ACCESS_KEY" {
            *v = wrong_secret.to_string();
        }
    }
    let refused = S3Backend::with_settings(&sw.location("creds"), &settings).unwrap();
    let mut texts = vec![format!("{refused:?}")];
    let e = refused
        .put("x", b"x", PutMode::Overwrite)
        .expect_err("a wrong secret is refused");
    assert!(e.to_string().contains("credentials"), "{e}");
    texts.push(e.to_string());
    texts.push(format!("{e:?}"));
    texts.push(format!("{:?}", refused.get("x").unwrap_err()));
    texts.push(format!("{:?}", refused.list("").unwrap_err()));
    // Right credentials, a bucket that does not exist.
    let good = S3Backend::with_settings(
        &exhibit::archive::location::S3Location {
            bucket: "no-such-bucket".into(),
            prefix: "p".into(),
        },
        &sw.settings(),
    )
    .unwrap();
    texts.push(format!("{good:?}"));
    if let Err(e) = good.put("x", b"x", PutMode::Overwrite) {
        texts.push(e.to_string());
        texts.push(format!("{e:?}"));
    }
    for t in &texts {
        for secret in [wrong_secret, SECRET_KEY, ACCESS_KEY] {
            assert!(!t.contains(secret), "{secret} in {t}");
        }
        assert!(!t.contains('\n'), "one line: {t}");
    }
}

/// A mistyped bucket must not read as an empty archive. (HEAD cannot tell a missing bucket from
/// a missing object: S3 sends no body with it.)
#[test]
fn s3_missing_bucket_is_an_error_not_an_empty_archive() {
    let sw = Seaweed::start();
    let b = S3Backend::with_settings(
        &exhibit::archive::location::S3Location {
            bucket: "no-such-bucket".into(),
            prefix: "p".into(),
        },
        &sw.settings(),
    )
    .unwrap();
    let errors = [
        b.get("x").unwrap_err(),
        b.list("").unwrap_err(),
        b.list("log/").unwrap_err(),
        b.get_range("x", 0, 1).unwrap_err(),
        b.delete("x").unwrap_err(),
    ];
    for e in errors {
        let text = e.to_string();
        assert!(
            text.contains("NoSuchBucket") && text.contains("no such bucket: check the bucket name"),
            "{text}"
        );
    }
}

/// A stand-in for a store that answers a conditional create racing another write the way AWS
/// does (409 ConditionalRequestConflict): the first PUT of each name gets that answer, and the
/// object exists afterwards only if `lands` (the other write succeeded). Loopback, raw HTTP.
fn racing_store(lands: bool) -> (std::net::SocketAddr, std::sync::Arc<AtomicUsize>) {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let puts = std::sync::Arc::new(AtomicUsize::new(0));
    let stored = std::sync::Arc::new(AtomicBool::new(false));
    let counter = puts.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (puts, stored) = (counter.clone(), stored.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let method = line.split(' ').next().unwrap_or("").to_string();
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0u8; len];
                    reader.read_exact(&mut body).unwrap();
                    let reply = match method.as_str() {
                        "PUT" if puts.fetch_add(1, Ordering::SeqCst) == 0 => {
                            if lands {
                                stored.store(true, Ordering::SeqCst);
                            }
                            let xml = "<?xml version=\"1.0\"?><Error><Code>ConditionalRequestConflict</Code><Message>A conflicting conditional operation is in progress</Message></Error>";
                            format!("HTTP/1.1 409 Conflict\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{xml}", xml.len())
                        }
                        "PUT" if stored.load(Ordering::SeqCst) => {
                            let xml = "<?xml version=\"1.0\"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>";
                            format!("HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{xml}", xml.len())
                        }
                        "PUT" => {
                            stored.store(true, Ordering::SeqCst);
                            "HTTP/1.1 200 OK\r\nETag: \"e1\"\r\nContent-Length: 0\r\n\r\n".to_string()
                        }
                        "HEAD" if stored.load(Ordering::SeqCst) => "HTTP/1.1 200 OK\r\nETag: \"e1\"\r\nContent-Length: 1\r\nLast-Modified: Wed, 02 Dec 2026 10:00:00 GMT\r\n\r\n".to_string(),
                        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
                    };
                    if conn.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, puts)
}

/// AWS answers a create that races another write with 409, and the other write may still fail:
/// `Exists` must mean the object is there, so a refused create whose object is absent is tried
/// again, and one whose object appeared is `Exists`.
#[test]
fn s3_a_refused_create_is_exists_only_when_the_object_is_there() {
    for lands in [false, true] {
        let (addr, puts) = racing_store(lands);
        let settings: Vec<(String, String)> = [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", format!("http://{addr}")),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let b = S3Backend::with_settings(
            &exhibit::archive::location::S3Location {
                bucket: "racing".into(),
                prefix: "p".into(),
            },
            &settings,
        )
        .unwrap();
        let got = b.put("doc", b"x", PutMode::Create).unwrap();
        if lands {
            assert_eq!(got, PutOutcome::Exists);
            assert_eq!(puts.load(Ordering::SeqCst), 1);
        } else {
            assert!(matches!(got, PutOutcome::Written { .. }), "{got:?}");
            assert_eq!(puts.load(Ordering::SeqCst), 2);
        }
    }
}
