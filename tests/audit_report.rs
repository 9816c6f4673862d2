//! What `exhibit audit` says: exactly what it read (never "archive OK" after reading only part
//! of the documents), a fresh and printed seed for every sample, the records and URLs behind
//! every document error, usage errors for checkpoint files that are not checkpoints, warnings
//! (not tampering) for file-manager clutter, and `--state`, which catches a rollback to an
//! older genuine state of the archive (issue 16 item 4, issue 9 item 10).

mod common;

use common::server::{Route, TestServer};
use common::{assert_one_line_error, files_under, Env};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::PathBuf;

/// Import `n` distinct documents, each under its own URL; returns (record ID, URL, sha256).
fn import_many(env: &Env, tag: &str, n: usize) -> Vec<(String, String, String)> {
    (0..n)
        .map(|i| {
            let f = env.dir.path().join(format!("{tag}{i}.txt"));
            let body = format!("document {tag} number {i}");
            fs::write(&f, &body).unwrap();
            let url = format!("https://example.org/{tag}/{i}");
            let out = env.ok(&["import", "--json", f.to_str().unwrap(), "--url", &url]);
            let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
            (
                v["record_id"].as_str().unwrap().to_string(),
                url,
                common::sha256_hex(body.as_bytes()),
            )
        })
        .collect()
}

/// The archive's founding key record (leaf 0, written by `init`): a record and a document like
/// any other for audit's counts and selections.
fn founding(env: &Env) -> (String, String, String) {
    let leaves = fs::read_to_string(env.archive.join("log").join("leaves")).unwrap();
    let line = leaves.lines().next().unwrap();
    let (id, sha) = line.split_once(' ').unwrap();
    (id.to_string(), "exhibit:key".into(), sha.to_string())
}

fn blob(env: &Env, sha: &str) -> PathBuf {
    env.archive
        .join("documents")
        .join(&sha[..2])
        .join(format!("{sha}.zst"))
}

/// Flip one byte inside a stored blob (within the compressed frame, so it is damage).
fn tamper(env: &Env, sha: &str) {
    let p = blob(env, sha);
    let mut b = fs::read(&p).unwrap();
    b[12] ^= 0x20;
    fs::write(&p, b).unwrap();
}

/// FORMAT.md 11.1: the part of `--subset N/M` that reads this document.
fn subset_of(sha: &str, m: u64) -> u64 {
    u64::from_str_radix(&sha[..16], 16).unwrap() % m + 1
}

/// FORMAT.md 11.1: whether `--sample percent --seed seed` reads this document.
fn sampled(sha: &str, percent: f64, seed: &str) -> bool {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update(b"\n");
    h.update(sha.as_bytes());
    let x = u64::from_be_bytes(h.finalize()[..8].try_into().unwrap());
    (x as f64 / u64::MAX as f64) < percent / 100.0
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

#[test]
fn subset_audits_say_what_they_read_and_never_archive_ok_for_part() {
    let env = Env::new();
    let mut docs = vec![founding(&env)];
    docs.extend(import_many(&env, "s", 20));
    let (code, full) = env.audit(&[]);
    assert_eq!(code, 0, "{full:#}");
    assert_eq!(full["complete"], true);
    assert_eq!(full["documents_not_read"], 0);
    let text = env.ok(&["audit"]);
    assert_eq!(
        last_line(&text),
        "audit: manifests, signatures and log: all 21 records; documents: all 21 read: archive OK",
        "{text}"
    );

    // A part that reads no document at all still says so: "0 of 20 read", not OK for everything.
    let empty_part = (1..=7u64).find(|p| docs.iter().all(|d| subset_of(&d.2, 7) != *p));
    for part in 1..=7u64 {
        let r = env.run(&["audit", "--subset", &format!("{part}/7")]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let reads = docs.iter().filter(|d| subset_of(&d.2, 7) == part).count();
        let line = last_line(&r.stdout);
        assert!(!line.contains("archive OK"), "part {part}: {line}");
        assert_eq!(
            line,
            format!(
                "audit: manifests, signatures and log: all 21 records; documents: {reads} of 21 read (subset {part}/7), {} not read in this run: OK for what was read",
                21 - reads
            )
        );
        let (_, v) = env.audit(&["--subset", &format!("{part}/7")]);
        assert_eq!(
            (
                v["complete"].as_bool(),
                v["documents_checked"].as_u64(),
                v["documents_not_read"].as_u64(),
                v["subset"].as_str(),
                v["summary"].as_str()
            ),
            (
                Some(false),
                Some(reads as u64),
                Some(21 - reads as u64),
                Some(format!("{part}/7").as_str()),
                Some(line)
            ),
            "{v:#}"
        );
    }
    if let Some(p) = empty_part {
        let r = env.run(&["audit", "--subset", &format!("{p}/7")]);
        assert!(r.stdout.contains("documents: 0 of 21 read"), "{}", r.stdout);
    }

    // One tampered document: caught on its night, "not read" on the six others, never OK.
    let (id, url, sha) = docs[3].clone();
    tamper(&env, &sha);
    let mine = subset_of(&sha, 7);
    for part in 1..=7u64 {
        let r = env.run(&["audit", "--subset", &format!("{part}/7")]);
        let line = last_line(&r.stdout);
        assert!(!line.contains("archive OK"), "{line}");
        if part == mine {
            assert_eq!(r.code, 1, "{}", r.stdout);
            assert!(line.contains("FAILED: 1 error"), "{line}");
            let err = r
                .stdout
                .lines()
                .find(|l| l.starts_with("error: ") && l.contains(&sha))
                .unwrap_or_else(|| panic!("no error names the document: {}", r.stdout));
            assert!(err.contains(&id) && err.contains(&url), "{err}");
        } else {
            assert_eq!(r.code, 0, "{}", r.stdout);
            assert!(
                line.contains("not read in this run: OK for what was read"),
                "{line}"
            );
        }
    }
}

#[test]
fn the_default_seed_is_fresh_printed_and_reproduces_the_run() {
    let env = Env::new();
    let mut docs = vec![founding(&env)];
    docs.extend(import_many(&env, "r", 30));
    let (_, _, bad) = docs[7].clone();
    tamper(&env, &bad);
    let mut seeds = Vec::new();
    for _ in 0..6 {
        let r = env.run(&["audit", "--sample", "50"]);
        let seed_line = r
            .stdout
            .lines()
            .find(|l| l.starts_with("sample seed: "))
            .unwrap_or_else(|| panic!("no seed printed: {}", r.stdout));
        let seed = seed_line["sample seed: ".len()..]
            .split(" (")
            .next()
            .unwrap()
            .to_string();
        assert!(seed_line.contains(&format!("--seed {seed}")), "{seed_line}");
        // The printed seed is the one used: FORMAT.md's rule, applied to it, predicts which
        // documents were read, and so whether the tampered one was caught.
        let want: usize = docs.iter().filter(|d| sampled(&d.2, 50.0, &seed)).count();
        let caught = sampled(&bad, 50.0, &seed);
        assert_eq!(
            r.code,
            if caught { 1 } else { 0 },
            "seed {seed}: {}",
            r.stdout
        );
        assert!(
            last_line(&r.stdout).contains(&format!("documents: {want} of 31 read")),
            "seed {seed}: {}",
            r.stdout
        );
        // --seed repeats it exactly.
        let (code, v) = env.audit(&["--sample", "50", "--seed", &seed]);
        assert_eq!(code, r.code);
        assert_eq!(
            (v["seed"].as_str(), v["documents_checked"].as_u64()),
            (Some(seed.as_str()), Some(want as u64)),
            "{v:#}"
        );
        seeds.push(seed);
    }
    let mut distinct = seeds.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), seeds.len(), "seeds repeat: {seeds:?}");
    // An explicit empty seed is still the old default, for repeating old runs.
    let (_, v) = env.audit(&["--sample", "50", "--seed", ""]);
    assert_eq!(v["seed"], "");
}

#[test]
fn document_errors_name_every_record_and_url_that_cites_them() {
    let env = Env::new();
    let f = env.dir.path().join("shared.txt");
    fs::write(&f, "one document, two URLs").unwrap();
    let sha = common::sha256_hex(b"one document, two URLs");
    let mut cites = Vec::new();
    for url in ["https://example.org/a", "https://mirror.example.net/b"] {
        let out = env.ok(&["import", "--json", f.to_str().unwrap(), "--url", url]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        cites.push((v["record_id"].as_str().unwrap().to_string(), url));
    }
    import_many(&env, "other", 2);
    let path = format!("documents/{}/{sha}.zst", &sha[..2]);

    let check = |env: &Env, what: &str| {
        let r = env.run(&["audit"]);
        assert_eq!(r.code, 1, "{what}: {}", r.stdout);
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("error: {path}")))
            .unwrap_or_else(|| panic!("{what}: no error for {path}: {}", r.stdout));
        for (id, url) in &cites {
            assert!(line.contains(&format!("{id} ({url})")), "{what}: {line}");
        }
        let (_, v) = env.audit(&[]);
        let listed: Vec<(&str, &str)> = v["cited_by"][&path]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: {v:#}"))
            .iter()
            .map(|c| (c["record_id"].as_str().unwrap(), c["url"].as_str().unwrap()))
            .collect();
        let want: Vec<(&str, &str)> = cites.iter().map(|(i, u)| (i.as_str(), *u)).collect();
        assert_eq!(listed, want, "{what}");
    };
    tamper(&env, &sha);
    check(&env, "altered");
    fs::remove_file(blob(&env, &sha)).unwrap();
    check(&env, "missing");
}

#[test]
fn a_checkpoint_file_that_is_not_a_checkpoint_is_a_usage_error() {
    let env = Env::new();
    import_many(&env, "u", 2);
    let good = env.dir.path().join("good.checkpoint");
    fs::write(&good, env.ok(&["checkpoint"])).unwrap();
    let cases: [(&str, &[u8]); 4] = [
        ("empty", b""),
        ("garbage", b"yesterday\n"),
        ("binary", b"\xff\xfe\x00\x01"),
        ("truncated", &fs::read(&good).unwrap()[..40]),
    ];
    for (name, bytes) in cases {
        let p = env.dir.path().join(name);
        fs::write(&p, bytes).unwrap();
        for option in ["--since", "--state"] {
            let r = env.fails(&["audit", option, p.to_str().unwrap()], 2);
            assert_one_line_error(&r.stderr, "not a signed checkpoint");
            assert!(r.stdout.is_empty(), "{name}: {}", r.stdout);
            assert!(!r.stderr.contains("FAILED"), "{}", r.stderr);
        }
        // The state file is left for the user to restore, never overwritten.
        assert_eq!(fs::read(&p).unwrap(), bytes);
    }
    let r = env.fails(&["audit", "--since", "/nonexistent/old.checkpoint"], 2);
    assert_one_line_error(&r.stderr, "old.checkpoint");
    let r = env.fails(&["audit", "--state", "/nonexistent/dir/state"], 2);
    assert_one_line_error(&r.stderr, "does not exist");
    // A real checkpoint still works; one of another archive is an audit finding (exit 1).
    let (code, v) = env.audit(&["--since", good.to_str().unwrap()]);
    assert_eq!((code, v["extends"].as_u64()), (0, Some(3)), "{v:#}");
    let other = Env::new();
    let foreign = other.dir.path().join("foreign.checkpoint");
    fs::write(&foreign, other.ok(&["checkpoint"])).unwrap();
    let (code, v) = env.audit(&["--since", foreign.to_str().unwrap()]);
    assert_eq!((code, v["history"].as_str()), (1, Some("failed")), "{v:#}");
}

#[test]
fn file_manager_clutter_is_a_warning_but_links_of_that_name_are_errors() {
    let env = Env::new();
    let docs = import_many(&env, "c", 2);
    let id = &docs[0].0;
    let key = files_under(&env.archive.join("keys")).remove(0);
    let key_name = key.file_name().unwrap().to_str().unwrap().to_string();
    let clutter = [
        ".DS_Store".to_string(),
        format!("documents/{}/Thumbs.db", &docs[0].2[..2]),
        format!("records/{}/desktop.ini", &id[3..5]),
        format!("records/{}/._{id}.json", &id[3..5]),
        format!("keys/._{key_name}"),
        "log/._leaves".to_string(),
    ];
    for c in &clutter {
        // AppleDouble files hold binary resource-fork data.
        fs::write(
            env.archive.join(c),
            b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X",
        )
        .unwrap();
    }
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["warnings"].as_u64(), Some(clutter.len() as u64), "{v:#}");
    for c in &clutter {
        assert!(
            v["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["path"] == c.as_str() && p["severity"] == "warning"),
            "{c}: {v:#}"
        );
    }
    // Nothing else reads them: `keys/._ID.pem` ends in .pem but is not taken for a key.
    env.ok(&["verify", id]);
    env.ok(&["keys"]);
    import_many(&env, "after", 1);

    // A link or a second hard link stays an error whatever its name.
    #[cfg(unix)]
    {
        let ds = env
            .archive
            .join("records")
            .join(&id[3..5])
            .join(".DS_Store");
        std::os::unix::fs::symlink("../../exhibit.json", &ds).unwrap();
        let thumbs = env.archive.join("log/Thumbs.db");
        fs::hard_link(env.dir.path().join("c0.txt"), &thumbs).unwrap();
        let (code, v) = env.audit(&[]);
        assert_eq!(code, 1, "{v:#}");
        let errors: Vec<&str> = v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["severity"] == "error")
            .map(|p| p["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            errors,
            [
                "log/Thumbs.db".to_string(),
                format!("records/{}/.DS_Store", &id[3..5])
            ],
            "{v:#}"
        );
    }
}

#[test]
fn a_missing_record_is_one_error_not_also_a_broken_change_claim() {
    let srv = TestServer::start(vec![("/p", Route::html("<p>the same page</p>"))]);
    let env = Env::new();
    let first = env.capture(&srv.url("/p"), &[]);
    let id = first["record_id"].as_str().unwrap().to_string();
    let out = env.ok(&["check", "--json", &srv.url("/p")]);
    let check: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(check["previous"], id.as_str(), "{check:#}");
    env.assert_audit_clean();
    let json = env
        .archive
        .join("records")
        .join(&id[3..5])
        .join(format!("{id}.json"));
    fs::remove_file(&json).unwrap();
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 1, "{v:#}");
    let text = v["problems"].to_string();
    assert!(
        text.contains(&format!("missing or unreadable record {id}")),
        "{v:#}"
    );
    assert!(!text.contains("not earlier in the log"), "{v:#}");
    assert_eq!(v["first_bad_leaf"], 1);
}

/// The rollback of issue 9 item 10, done as anyone who can write the archive can: keep copies
/// of the log files, let the archive grow, then put the old log back and remove what is newer.
/// Every file is genuine, so a plain audit passes; `--state` remembers the newer checkpoint.
#[test]
fn state_catches_a_rollback_and_follows_genuine_appends() {
    let env = Env::new();
    import_many(&env, "a", 3);
    let state_dir = env.dir.path().join("ci-state");
    fs::create_dir(&state_dir).unwrap();
    let state = state_dir.join("checkpoint");
    let st = state.to_str().unwrap();

    // First run: nothing to compare with, says so, keeps the checkpoint.
    let r = env.run(&["audit", "--state", st]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("(first run)"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("state: saved the checkpoint of 4 records to {st}")),
        "{}",
        r.stdout
    );
    assert_eq!(fs::read_to_string(&state).unwrap(), env.ok(&["checkpoint"]));
    let old: Vec<(&str, Vec<u8>)> = ["leaves", "hashes", "checkpoint"]
        .iter()
        .map(|f| (*f, fs::read(env.archive.join("log").join(f)).unwrap()))
        .collect();

    // A genuine append passes and moves the state on.
    let newer = import_many(&env, "b", 2);
    let (code, v) = env.audit(&["--state", st]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(
        (
            v["history"].as_str(),
            v["state"]["previous_tree_size"].as_u64(),
            v["state"]["saved"].as_bool()
        ),
        (Some("extends"), Some(4), Some(true)),
        "{v:#}"
    );
    let kept = env.ok(&["checkpoint"]);
    assert_eq!(fs::read_to_string(&state).unwrap(), kept);

    // The rollback: old log files back, the newer records and documents removed.
    for (f, bytes) in &old {
        fs::write(env.archive.join("log").join(f), bytes).unwrap();
    }
    for (id, _, sha) in &newer {
        for ext in ["json", "sig"] {
            fs::remove_file(
                env.archive
                    .join("records")
                    .join(&id[3..5])
                    .join(format!("{id}.{ext}")),
            )
            .unwrap();
        }
        fs::remove_file(blob(&env, sha)).unwrap();
    }
    let r = env.run(&["audit"]);
    assert_eq!(
        r.code, 0,
        "a plain audit cannot see a rollback: {}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("a rollback to an older genuine state would pass"),
        "{}",
        r.stdout
    );
    let r = env.run(&["audit", "--state", st]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let err = r
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("error: {st}")))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(err.contains("rolled back"), "{err}");
    assert!(
        r.stdout.contains(&format!("state: {st} left unchanged")),
        "{}",
        r.stdout
    );
    // Never saved on failure, so the next run still catches it.
    assert_eq!(fs::read_to_string(&state).unwrap(), kept);
    let (code, v) = env.audit(&["--state", st]);
    assert_eq!(
        (code, v["history"].as_str(), v["state"]["saved"].as_bool()),
        (1, Some("failed"), Some(false)),
        "{v:#}"
    );
    assert_eq!(fs::read_to_string(&state).unwrap(), kept);
    // Nothing but the state file was ever left in its directory (atomic writes clean up).
    assert_eq!(files_under(&state_dir), vec![state.clone()]);
    assert_eq!(
        fs::read_dir(&state_dir).unwrap().count(),
        1,
        "{:?}",
        fs::read_dir(&state_dir).unwrap().collect::<Vec<_>>()
    );
}
