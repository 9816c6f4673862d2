//! Archive integrity through the real binary: tampering with any byte, extra and missing files,
//! trust roots, record-ID typos, hash prefixes, concurrent writers and interrupted writes.

mod common;

use common::tamper::{assert_caught, Act, Objects};
use common::{assert_one_line_error, files_under, Env};
use exhibit::archive::backend::LocalBackend;
use std::collections::HashMap;
use std::path::Path;

/// An archive of three imports, two of them the same content (so one blob serves two records).
fn small_archive() -> (Env, Vec<String>) {
    small_archive_in("loose")
}

/// [`small_archive`] in a layout: `loose`, `packed`, or `migrated` (made loose, moved to the
/// packed layout by `exhibit migrate`, then one more import: legacy IDs and positional ones).
fn small_archive_in(layout: &str) -> (Env, Vec<String>) {
    let env = Env::bare();
    let init_layout = if layout == "migrated" {
        "loose"
    } else {
        layout
    };
    env.ok(&["init", "--layout", init_layout]);
    let mut ids = Vec::new();
    for (i, content) in [
        "<html><title>A</title>alpha</html>",
        "beta beta beta",
        "beta beta beta",
    ]
    .iter()
    .enumerate()
    {
        let f = env.dir.path().join(format!("doc{i}.html"));
        std::fs::write(&f, content).unwrap();
        let out = env.ok(&[
            "import",
            f.to_str().unwrap(),
            "--url",
            &format!("https://example.org/doc{i}"),
            "--content-type",
            "text/html",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        ids.push(v["record_id"].as_str().unwrap().to_string());
    }
    if layout != "migrated" {
        return (env, ids);
    }
    let packed = env.dir.path().join("migrated");
    env.ok(&["migrate", packed.to_str().unwrap()]);
    std::fs::remove_dir_all(&env.archive).unwrap();
    std::fs::rename(&packed, &env.archive).unwrap();
    let f = env.dir.path().join("after.txt");
    std::fs::write(&f, "committed after the migration").unwrap();
    let out = env.ok(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/after",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    ids.push(v["record_id"].as_str().unwrap().to_string());
    (env, ids)
}

fn rel(env: &Env, p: &Path) -> String {
    p.strip_prefix(&env.archive).unwrap().display().to_string()
}

#[test]
fn flipping_any_byte_of_any_file_fails_audit_and_names_the_file() {
    flip_every_file("loose");
}

/// The same for the packed layout (FORMAT.md 3.3): every byte of a pack, of `log/places` and
/// of `log/legacy-ids` is checked too, and a flip names the file.
#[test]
fn flipping_any_byte_of_any_file_of_a_packed_archive_fails_audit_and_names_the_file() {
    flip_every_file("packed");
    flip_every_file("migrated");
}

fn flip_every_file(layout: &str) {
    let (env, _) = small_archive_in(layout);
    env.assert_audit_clean();
    // Listed and changed through exhibit's own backend, as tests/s3_archive.rs does on S3.
    let store = LocalBackend::open(&env.archive).unwrap();
    let files: Vec<(String, u64)> = Objects::new(&store, "")
        .list()
        .into_iter()
        .filter(|(_, len)| *len > 0)
        .collect();
    let kinds: &[&str] = match layout {
        "loose" => &[
            "exhibit.json",
            "keys/",
            "documents/",
            "records/",
            "log/leaves",
            "log/hashes",
            "log/checkpoint",
        ],
        "packed" => &[
            "exhibit.json",
            "keys/",
            "packs/",
            "log/leaves",
            "log/hashes",
            "log/checkpoint",
            "log/places",
        ],
        _ => &["packs/", "log/places", "log/legacy-ids"],
    };
    for k in kinds {
        assert!(
            files.iter().any(|(f, _)| f.starts_with(k)),
            "no {k} file to tamper with"
        );
    }
    // Every byte of small files (signatures, keys, blobs, hashes, metadata); an even spread of
    // larger ones, always including the first and last byte. Two flips per byte: the lowest bit
    // (the subtlest change to text) and the highest.
    let mut cases: Vec<Act> = Vec::new();
    for (name, len) in &files {
        let len = *len as usize;
        let positions: Vec<usize> = if len <= 160 {
            (0..len).collect()
        } else {
            (0..len).step_by(len / 40).chain([len - 1]).collect()
        };
        for at in positions {
            let flip = |mask| Act::Flip {
                name: name.clone(),
                at,
                mask,
            };
            cases.push(flip(0x01));
            if at % 3 == 0 {
                cases.push(flip(0x80));
            }
        }
    }
    assert!(cases.len() > 300, "only {} tamperings", cases.len());
    // Workers each tamper with their own copy of the archive.
    let workers = 4;
    let chunks: Vec<Vec<Act>> = (0..workers)
        .map(|w| cases.iter().skip(w).step_by(workers).cloned().collect())
        .collect();
    std::thread::scope(|s| {
        for chunk in &chunks {
            let env = &env;
            s.spawn(move || {
                let copy = Env::bare();
                common::copy_dir(&env.archive, &copy.archive);
                std::fs::create_dir_all(copy.key.parent().unwrap()).unwrap();
                let store = LocalBackend::open(&copy.archive).unwrap();
                let objects = Objects::new(&store, "");
                for act in chunk {
                    assert_caught(act, objects.tampered(act, || copy.audit(&[])));
                }
                copy.assert_audit_clean();
            });
        }
    });
}

#[test]
fn missing_and_extra_files_fail_audit() {
    let (env, ids) = small_archive();
    let store = LocalBackend::open(&env.archive).unwrap();
    let objects = Objects::new(&store, "");
    let names: Vec<String> = objects.list().into_iter().map(|(n, _)| n).collect();
    let first = |prefix: &str, suffix: &str| {
        names
            .iter()
            .find(|n| n.starts_with(prefix) && n.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {prefix}…{suffix} in {names:?}"))
            .clone()
    };
    // An extra file anywhere; a record's signature, a document, a key removed: each is named.
    for act in [
        Act::Add("records/notes.txt".into(), b"hello".to_vec()),
        Act::Add("documents/ab/notes.txt".into(), b"hello".to_vec()),
        Act::Delete(first("records/", ".sig")),
        Act::Delete(first("records/", ".json")),
        Act::Delete(first("log/", "leaves")),
    ] {
        assert_caught(&act, objects.tampered(&act, || env.audit(&[])));
        env.assert_audit_clean();
    }
    // The copy of a key in keys/ removed: the log still has the key, so a warning names it.
    let key = Act::Delete(first("keys/", ".pem"));
    let (code, v) = objects.tampered(&key, || env.audit(&[]));
    assert_eq!(code, 0, "{v:#}");
    assert!(
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["severity"] == "warning" && p["path"] == key.name()),
        "{v:#}"
    );
    // A document removed: every record that cites it is named, and verify says so.
    let beta = common::sha256_hex(b"beta beta beta");
    let doc = Act::Delete(first(&format!("documents/{}/{beta}", &beta[..2]), ".zst"));
    objects.tampered(&doc, || {
        let (code, v) = env.audit(&[]);
        assert_eq!(code, 1);
        assert!(v.to_string().contains("missing document"), "{v:#}");
        let r = env.fails(&["verify", &ids[2]], 1);
        assert!(r.stdout.contains("missing"), "{}", r.stdout);
    });
    env.assert_audit_clean();
}

#[test]
fn scratch_files_are_warnings_and_the_next_writer_cleans_them() {
    let (env, _) = small_archive();
    let stale = env.archive.join("tmp").join("w999999-abandoned");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("doc-xyz.zst"), b"half a document").unwrap();
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 0, "{v:#}");
    assert!(v["warnings"].as_u64().unwrap() >= 1);
    let f = env.dir.path().join("again.txt");
    std::fs::write(&f, "again").unwrap();
    env.ok(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/again",
    ]);
    assert!(
        !stale.exists(),
        "the next writer did not clean the abandoned scratch directory"
    );
    let (_, v) = env.audit(&[]);
    assert_eq!(v["warnings"], 0, "{v:#}");
}

#[test]
fn interrupted_commit_is_a_warning_then_rolled_back() {
    let (env, ids) = small_archive();
    // Simulate a crash after step 4 of a commit (intent line written, record moved into place)
    // but before the new checkpoint: copy a record to a new ID and append its leaf line.
    let f = env.dir.path().join("new.txt");
    std::fs::write(&f, "to be interrupted").unwrap();
    let before_leaves = std::fs::read(env.archive.join("log/leaves")).unwrap();
    let before_hashes = std::fs::read(env.archive.join("log/hashes")).unwrap();
    let before_cp = std::fs::read(env.archive.join("log/checkpoint")).unwrap();
    let out = env.ok(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/new",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let new_id = v["record_id"].as_str().unwrap().to_string();
    // Put the checkpoint back: the new record is now beyond the committed tree.
    std::fs::write(env.archive.join("log/checkpoint"), &before_cp).unwrap();
    let (code, report) = env.audit(&[]);
    assert_eq!(
        code, 0,
        "an interrupted write must not fail audit: {report:#}"
    );
    assert!(report["warnings"].as_u64().unwrap() >= 2, "{report:#}");
    assert!(report.to_string().contains("interrupted"), "{report:#}");
    // The committed records still verify; the interrupted one is not citable.
    env.ok(&["verify", &ids[0]]);
    assert_ne!(env.run(&["verify", &new_id]).code, 0);
    // The next writer rolls back and continues cleanly.
    let g = env.dir.path().join("next.txt");
    std::fs::write(&g, "next").unwrap();
    env.ok(&[
        "import",
        g.to_str().unwrap(),
        "--url",
        "https://example.org/next",
    ]);
    let (code, report) = env.audit(&[]);
    assert_eq!(
        (code, report["warnings"].as_u64()),
        (0, Some(0)),
        "{report:#}"
    );
    assert_eq!(
        report["tree_size"], 5,
        "the founding record, three, and the next"
    );
    assert_eq!(env.fails(&["verify", &new_id], 3).code, 3);
    let leaves = std::fs::read(env.archive.join("log/leaves")).unwrap();
    assert_eq!(&leaves[..before_leaves.len()], &before_leaves[..]);
    assert!(std::fs::read(env.archive.join("log/hashes"))
        .unwrap()
        .starts_with(&before_hashes));
}

#[test]
fn a_key_planted_in_keys_is_trusted_by_nobody() {
    let (env, ids) = small_archive();
    let pinned = format!("{}.pub", env.key.display());
    let (code, _) = env.audit(&["--trusted-key", &pinned]);
    assert_eq!(code, 0);
    // An intruder with write access puts their own public key into keys/ (issue 16 item 3: a
    // key is added only by a key record a key of the archive signed).
    let intruder = env.dir.path().join("intruder.key");
    let ik = intruder.to_str().unwrap();
    env.ok(&["--key", ik, "keygen"]);
    let pem = std::fs::read(format!("{ik}.pub")).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "pkey",
            "-pubin",
            "-in",
            &format!("{ik}.pub"),
            "-outform",
            "DER",
        ])
        .output()
        .unwrap();
    let iid = common::sha256_hex(&out.stdout[out.stdout.len() - 32..])[..16].to_string();
    std::fs::write(env.archive.join("keys").join(format!("{iid}.pem")), pem).unwrap();
    // exhibit does not sign with it...
    let f = env.dir.path().join("forged.txt");
    std::fs::write(&f, "forged evidence").unwrap();
    let r = env.fails(
        &[
            "--key",
            ik,
            "import",
            f.to_str().unwrap(),
            "--url",
            "https://example.org/x",
        ],
        6,
    );
    assert_one_line_error(&r.stderr, "not a key of this archive");
    // ...and audit names the file, pinned or not.
    for extra in [vec![], vec!["--trusted-key", pinned.as_str()]] {
        let (code, report) = env.audit(&extra);
        assert_eq!(code, 1, "{report:#}");
        let text = report.to_string();
        assert!(
            text.contains(&format!("keys/{iid}.pem")) && text.contains("no key record adds it"),
            "{report:#}"
        );
    }
    // The honest records still verify against the pinned key.
    env.ok(&["verify", &ids[0], "--trusted-key", &pinned]);
    // `init` with the intruder's key neither trusts it nor logs anything.
    let before = std::fs::read(env.archive.join("log/leaves")).unwrap();
    let r = env.fails(&["--key", ik, "init"], 6);
    assert_one_line_error(&r.stderr, "not one of its keys");
    assert_eq!(
        std::fs::read(env.archive.join("log/leaves")).unwrap(),
        before
    );
}

#[test]
fn untrusted_missing_and_exposed_keys_are_refused() {
    let (env, _) = small_archive();
    let f = env.dir.path().join("x.txt");
    std::fs::write(&f, "x").unwrap();
    let fp = f.to_str().unwrap();
    // A key the archive does not trust cannot add records.
    let other = env.dir.path().join("other.key");
    env.ok(&["--key", other.to_str().unwrap(), "keygen"]);
    let r = env.fails(
        &[
            "--key",
            other.to_str().unwrap(),
            "import",
            fp,
            "--url",
            "https://e.org/",
        ],
        6,
    );
    assert_one_line_error(&r.stderr, "not a key of this archive");
    // A missing key.
    let r = env.fails(
        &[
            "--key",
            "/nonexistent/key",
            "import",
            fp,
            "--url",
            "https://e.org/",
        ],
        6,
    );
    assert_one_line_error(&r.stderr, "no signing key");
    // A key others can read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&env.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = env.fails(&["import", fp, "--url", "https://e.org/"], 6);
    assert_one_line_error(&r.stderr, "readable by others");
    assert!(r.stderr.contains("chmod 600"));
    std::fs::set_permissions(&env.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // keygen never overwrites, and never prints the secret.
    let r = env.fails(&["keygen"], 6);
    assert_one_line_error(&r.stderr, "already exists");
    let secret = std::fs::read_to_string(&env.key).unwrap();
    let body: String = secret.lines().filter(|l| !l.starts_with("-----")).collect();
    let out = env.run(&[
        "--key",
        env.dir.path().join("k3").to_str().unwrap(),
        "keygen",
    ]);
    assert!(!out.stdout.contains(&body) && !out.stderr.contains(&body));
    let mode = std::fs::metadata(env.dir.path().join("k3"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    env.assert_audit_clean();
}

#[test]
fn mistyped_unknown_and_malformed_targets_are_distinct_errors() {
    let (env, ids) = small_archive();
    let id = &ids[0];
    // Case and hyphens do not matter.
    env.ok(&["verify", &id.to_lowercase()]);
    // One wrong symbol: rejected by the check character, never resolved to another record.
    let mut chars: Vec<char> = id.chars().collect();
    let pos = 5;
    chars[pos] = if chars[pos] == '7' { '8' } else { '7' };
    let typo: String = chars.into_iter().collect();
    let r = env.fails(&["verify", &typo], 2);
    assert_one_line_error(&r.stderr, "mistyped");
    // A well-formed ID that is not in the archive.
    let r = env.fails(&["verify", "EX-0000-0000-0000"], 3);
    assert_one_line_error(&r.stderr, "no record");
    // A hash that is not in the archive, and one too short to look up.
    let r = env.fails(&["verify", "0be9e4add991830b"], 3);
    assert_one_line_error(&r.stderr, "no record");
    let r = env.fails(&["verify", "0be9e4"], 2);
    assert_one_line_error(&r.stderr, "too short");
}

#[test]
fn ambiguous_prefix_is_reported_with_candidates() {
    // Find two contents whose SHA-256 share 8 hex digits (a 32-bit birthday search, ~10^5 tries).
    let mut seen: HashMap<[u8; 4], u64> = HashMap::new();
    let (a, b) = (0u64..)
        .find_map(|i| {
            use sha2::Digest;
            let d = sha2::Sha256::digest(format!("doc {i}"));
            let p = [d[0], d[1], d[2], d[3]];
            seen.insert(p, i).map(|j| (j, i))
        })
        .unwrap();
    let env = Env::new();
    for i in [a, b] {
        let f = env.dir.path().join(format!("d{i}"));
        std::fs::write(&f, format!("doc {i}")).unwrap();
        env.ok(&[
            "import",
            f.to_str().unwrap(),
            "--url",
            &format!("https://e.org/{i}"),
        ]);
    }
    let prefix = &common::sha256_hex(format!("doc {a}").as_bytes())[..8];
    let r = env.fails(&["verify", prefix], 4);
    assert_one_line_error(&r.stderr, "matches 2 documents");
    // One more digit (where they differ) is enough.
    let full_a = common::sha256_hex(format!("doc {a}").as_bytes());
    let full_b = common::sha256_hex(format!("doc {b}").as_bytes());
    let n = (0..64)
        .find(|&k| full_a.as_bytes()[k] != full_b.as_bytes()[k])
        .unwrap()
        + 1;
    env.ok(&["verify", &full_a[..n.max(8)]]);
}

/// A server of `n` small text pages, `/p0` to `/p{n-1}`, each saying which it is.
fn text_pages(n: usize) -> common::server::TestServer {
    use common::server::Route;
    common::serve_owned(
        (0..n)
            .map(|i| {
                (
                    format!("/p{i}"),
                    Route::Ok {
                        content_type: "text/plain",
                        body: format!("page {i}").into_bytes(),
                    },
                )
            })
            .collect(),
    )
}

#[test]
fn two_concurrent_capture_processes_lose_nothing() {
    let srv = text_pages(60);
    let env = Env::bare();
    env.ok(&["init"]);
    let children: Vec<_> = (0..2)
        .map(|half| {
            let urls: Vec<String> = (0..60)
                .filter(|i| i % 2 == half)
                .map(|i| srv.url(&format!("/p{i}")))
                .collect();
            env.spawn_capture(&format!("urls{half}.txt"), &urls)
        })
        .collect();
    let mut printed = Vec::new();
    for c in children {
        printed.extend(common::printed_ids(c));
    }
    assert_eq!(printed.len(), 60);
    let (code, report) = env.audit(&[]);
    assert_eq!(code, 0, "{report:#}");
    // The founding key record and its statement, then the sixty captures.
    assert_eq!(report["tree_size"], 61);
    assert_eq!(report["documents"], 61);
    for id in printed {
        env.ok(&["verify", &id]);
    }
}

#[test]
fn repository_archive_audits_clean_with_its_pinned_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(common::bin())
        .args([
            "--archive",
            "archive",
            "audit",
            "--json",
            "--trusted-key",
            ".ci/archive-key.pub",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{v:#}");
    assert_eq!(v["records"], 3);
    assert_eq!(v["warnings"], 0);
}

/// Keys are ordinary PKCS#8 / SPKI files: OpenSSL reads the secret key and derives the same
/// public key exhibit wrote beside it.
#[test]
fn openssl_reads_the_secret_key() {
    let env = Env::bare();
    env.ok(&["keygen"]);
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-in", env.key.to_str().unwrap(), "-pubout"])
        .output()
        .expect("openssl is needed for this test (apt-get install openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = std::fs::read_to_string(format!("{}.pub", env.key.display())).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), ours);
}

#[test]
fn sampled_and_subset_audits_spread_the_work_deterministically() {
    let env = Env::new();
    for i in 0..24 {
        let f = env.dir.path().join(format!("s{i}.txt"));
        std::fs::write(&f, format!("sampled document {i}")).unwrap();
        env.ok(&[
            "import",
            f.to_str().unwrap(),
            "--url",
            &format!("https://example.org/s{i}"),
        ]);
    }
    // Alter one document's content (a captured one: damage to the founding key statement
    // makes every audit stop at the key records, which another test covers).
    let (_, founding_sha) = env.founding().unwrap();
    let doc = files_under(&env.archive.join("documents"))
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains(&founding_sha))
        .nth(5)
        .unwrap();
    let mut bytes = std::fs::read(&doc).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&doc, &bytes).unwrap();
    let name = rel(&env, &doc);
    assert_eq!(env.audit(&[]).0, 1);
    // Over a cycle of subsets, exactly one run checks (and catches) it; together they check
    // every document once.
    let mut failing = 0;
    let mut checked = 0;
    for part in 1..=5 {
        let (code, report) = env.audit(&["--subset", &format!("{part}/5")]);
        checked += report["documents_checked"].as_u64().unwrap();
        if code == 1 {
            failing += 1;
            assert!(report.to_string().contains(&name), "{report:#}");
        }
    }
    // Twenty-four documents and the founding key statement.
    assert_eq!((failing, checked), (1, 25));
    // Samples are deterministic; 100% checks everything, 0% checks no content...
    assert_eq!(env.audit(&["--sample", "100"]).0, 1);
    let (code, report) = env.audit(&["--sample", "0"]);
    assert_eq!(
        (code, report["documents_checked"].as_u64()),
        (0, Some(0)),
        "{report:#}"
    );
    let a = env.audit(&["--sample", "30", "--seed", "monday"]).1;
    let b = env.audit(&["--sample", "30", "--seed", "monday"]).1;
    assert_eq!(a["documents_checked"], b["documents_checked"]);
    // ...but still every file's presence: a missing document fails even a 0% sample.
    std::fs::remove_file(&doc).unwrap();
    let (code, report) = env.audit(&["--sample", "0"]);
    assert_eq!(code, 1, "{report:#}");
    env.fails(&["audit", "--subset", "6/5"], 2);
    env.fails(&["audit", "--sample", "101"], 2);
}

/// The very first commit after `init`, interrupted before its checkpoint: only warnings, because
/// a new archive is complete from the moment it appears (built aside, renamed into place, with
/// its founding key record and a signed checkpoint of it). Deleting the checkpoint of an
/// archive, on the other hand, is damage.
#[test]
fn interrupted_first_commit_is_a_warning_but_a_deleted_checkpoint_is_an_error() {
    let env = Env::bare();
    env.ok(&["init"]);
    let empty = std::fs::read(env.archive.join("log/checkpoint")).unwrap();
    assert!(
        String::from_utf8_lossy(&empty).contains("\n1\n"),
        "{}",
        String::from_utf8_lossy(&empty)
    );
    env.assert_audit_clean();
    let f = env.dir.path().join("first.txt");
    std::fs::write(&f, "first").unwrap();
    env.ok(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/first",
    ]);
    std::fs::write(env.archive.join("log/checkpoint"), &empty).unwrap();
    let (code, report) = env.audit(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(report["warnings"].as_u64().unwrap() >= 2, "{report:#}");
    env.ok(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/again",
    ]);
    let (code, report) = env.audit(&[]);
    assert_eq!(
        (
            code,
            report["warnings"].as_u64(),
            report["tree_size"].as_u64()
        ),
        (0, Some(0), Some(2)),
        "{report:#}"
    );
    std::fs::remove_file(env.archive.join("log/checkpoint")).unwrap();
    let (code, report) = env.audit(&[]);
    assert_eq!(code, 1, "{report:#}");
    assert!(report.to_string().contains("missing"), "{report:#}");
    no_record_called_an_interrupted_write(&report);
    // A checkpoint that cannot be believed (here CRLF line ends, which its format forbids) is
    // no better: the writers refuse the archive, so nothing in it is an interrupted write that
    // "the next writer rolls back", a warning that would invite deleting committed records.
    let crlf = String::from_utf8(empty).unwrap().replace('\n', "\r\n");
    std::fs::write(env.archive.join("log/checkpoint"), crlf).unwrap();
    let (code, report) = env.audit(&[]);
    assert_eq!(code, 1, "{report:#}");
    no_record_called_an_interrupted_write(&report);
    env.fails(
        &[
            "import",
            f.to_str().unwrap(),
            "--url",
            "https://example.org/third",
        ],
        1,
    );
}

fn no_record_called_an_interrupted_write(report: &serde_json::Value) {
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems.iter().all(|p| p["severity"] == "error"
            || !p["what"].as_str().unwrap().contains("interrupted write")),
        "{report:#}"
    );
    assert!(
        problems.iter().any(|p| p["path"] == "log/leaves"
            && p["severity"] == "error"
            && p["what"]
                .as_str()
                .unwrap()
                .contains("none of them was checked")),
        "{report:#}"
    );
}

/// Adds the group order L to the s half of a signature: the same scalar, unreduced.
fn plus_l(sig: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (i, l) in L.iter().enumerate() {
        let sum = u16::from(sig[32 + i]) + u16::from(*l) + carry;
        sig[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "s + L fits in 32 bytes");
}

/// A second encoding of a valid signature (s + L, equal modulo the group order) is what a
/// lenient verifier accepts and OpenSSL refuses: audit refuses it and names the signature file.
#[test]
fn a_malleated_signature_fails_audit() {
    let (env, ids) = small_archive();
    env.assert_audit_clean();
    let sig_path = files_under(&env.archive)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(&format!("{}.sig", ids[0])))
        .expect("the record's signature file");
    let sig = std::fs::read(&sig_path).unwrap();
    assert_eq!(sig.len(), 64);
    let mut malleated = sig.clone();
    plus_l(&mut malleated);
    std::fs::write(&sig_path, &malleated).unwrap();
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(v["errors"].as_u64().unwrap() >= 1, "{v:#}");
    let named = rel(&env, &sig_path);
    assert!(
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["path"] == named.as_str() && p["severity"] == "error"),
        "{v:#}"
    );
}

/// Audit checks the records of a key through a per-key table once the key has checked
/// `Verifier::TABLE_AFTER` (100) signatures: forged signatures are caught on both sides of
/// that point. Every third of 150 records gets a forged signature (one byte of R or of s
/// changed, or s + L), and audit names each of them (manifest and signature) and no other.
#[test]
fn forged_signatures_are_caught_however_many_records_came_before() {
    let srv = text_pages(150);
    let env = Env::bare();
    env.ok(&["init", "--layout", "loose"]);
    let urls: Vec<String> = (0..150).map(|i| srv.url(&format!("/p{i}"))).collect();
    let ids = common::printed_ids(env.spawn_capture("urls.txt", &urls));
    assert_eq!(ids.len(), 150);
    env.assert_audit_clean();
    let sigs: HashMap<String, std::path::PathBuf> = files_under(&env.archive)
        .into_iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.strip_suffix(".sig")?.to_string();
            Some((name, p))
        })
        .collect();
    let mut forged = Vec::new();
    for (n, id) in ids.iter().enumerate().filter(|(n, _)| n % 3 == 0) {
        let path = &sigs[id];
        let mut sig = std::fs::read(path).unwrap();
        match n % 9 {
            0 => sig[n % 32] ^= 0x40,
            3 => sig[32 + n % 31] ^= 0x01,
            _ => plus_l(&mut sig),
        }
        std::fs::write(path, &sig).unwrap();
        // Audit names the record's manifest and its signature.
        forged.push(rel(&env, path));
        forged.push(rel(&env, &path.with_extension("json")));
    }
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 1, "{v:#}");
    let mut named: Vec<String> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["severity"] == "error")
        .filter_map(|p| p["path"].as_str().map(str::to_string))
        .collect();
    named.sort();
    named.dedup();
    forged.sort();
    assert_eq!(named, forged, "{v:#}");
}

/// A record the signed log commits to, whose files were deleted, is damage: `verify ID` says so
/// (exit 1), never "no such record, check the ID" (exit 3), which reads as the user's typo.
#[test]
fn a_committed_record_whose_files_are_gone_is_damage_not_a_typo() {
    let env = Env::bare();
    env.ok(&["init", "--layout", "loose"]);
    let f = env.dir.path().join("a.txt");
    std::fs::write(&f, "a").unwrap();
    let out = env.ok(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/a",
    ]);
    let id = out.split_whitespace().next().unwrap().to_string();
    std::fs::remove_file(
        env.archive
            .join("records")
            .join(&id[3..5])
            .join(format!("{id}.json")),
    )
    .unwrap();
    let r = env.fails(&["verify", &id], 1);
    assert!(
        r.stderr
            .contains(&format!("record {id} is in the signed log (leaf 1)")),
        "{}",
        r.stderr
    );
    // An ID the log never held is still "no such record".
    let never = "EX-0000-0000-0000";
    let r = env.run(&["verify", never]);
    assert!(r.code == 2 || r.code == 3, "{}", r.stderr);
}
