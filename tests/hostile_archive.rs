//! An archive someone else could write to (issue 9, items 1-3): links planted inside it, a forged
//! "interrupted write", and several processes creating the same archive and key at once.
//! exhibit must never touch a file outside the archive, never destroy a committed record, and
//! never lose one.

mod common;

use common::{assert_one_line_error, files_under, Env};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Stdio;

fn import(env: &Env, name: &str, content: &str) -> std::process::Output {
    let f = env.dir.path().join(name);
    fs::write(&f, content).unwrap();
    env.command(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        &format!("https://example.org/{name}"),
        "--json",
    ])
    .output()
    .unwrap()
}

fn imported_id(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["record_id"].as_str().unwrap().to_string()
}

/// A directory outside the archive with files that must survive whatever happens inside it.
fn victim(env: &Env) -> std::path::PathBuf {
    let v = env.dir.path().join("victim");
    fs::create_dir_all(v.join("sub")).unwrap();
    fs::write(v.join("precious.txt"), b"do not touch").unwrap();
    fs::write(v.join("sub").join("more.txt"), b"nor this").unwrap();
    v
}

fn assert_victim_intact(v: &Path) {
    assert_eq!(fs::read(v.join("precious.txt")).unwrap(), b"do not touch");
    assert_eq!(
        fs::read(v.join("sub").join("more.txt")).unwrap(),
        b"nor this"
    );
}

fn audit_errors(env: &Env) -> Vec<(String, String)> {
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 1, "audit passed a hostile archive: {v:#}");
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["severity"] == "error")
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_string(),
                p["what"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_linked_tmp_directory_is_never_followed() {
    for target in ["victim", ".."] {
        let env = Env::new();
        imported_id(&import(&env, "a.txt", "first"));
        let v = victim(&env);
        let sibling = env.dir.path().join("sibling.txt");
        fs::write(&sibling, b"beside the archive").unwrap();
        fs::remove_dir_all(env.archive.join("tmp")).unwrap();
        let link_to = if target == ".." {
            Path::new("..").to_path_buf()
        } else {
            Path::new("..").join("victim")
        };
        symlink(&link_to, env.archive.join("tmp")).unwrap();

        // Every kind of write refuses, and says why.
        let out = import(&env, "b.txt", "second");
        assert_eq!(out.status.code(), Some(7), "target {target}");
        assert_one_line_error(&String::from_utf8_lossy(&out.stderr), "symbolic link");
        assert_victim_intact(&v);
        assert_eq!(fs::read(&sibling).unwrap(), b"beside the archive");
        assert!(env.archive.join("exhibit.json").is_file());
        // Audit names the link as an error, never "archive OK".
        let errors = audit_errors(&env);
        assert!(
            errors
                .iter()
                .any(|(p, w)| p == "tmp" && w.contains("symbolic link")),
            "{errors:?}"
        );
    }
}

#[test]
fn linked_or_hard_linked_log_files_are_never_written() {
    for kind in ["symlink", "hardlink"] {
        let env = Env::new();
        imported_id(&import(&env, "a.txt", "first"));
        let outside = env.dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        // The attacker replaces the log files with links to files of their choice (here, copies
        // of the real ones so that reads still make sense) and leaves a tail to roll back.
        for name in ["leaves", "hashes"] {
            let real = env.archive.join("log").join(name);
            let mut bytes = fs::read(&real).unwrap();
            bytes.extend_from_slice(b"extra bytes beyond the checkpoint, as if interrupted\n");
            fs::write(outside.join(name), &bytes).unwrap();
            fs::remove_file(&real).unwrap();
            if kind == "symlink" {
                symlink(outside.join(name), &real).unwrap();
            } else {
                fs::hard_link(outside.join(name), &real).unwrap();
            }
        }
        let before: Vec<Vec<u8>> = ["leaves", "hashes"]
            .iter()
            .map(|n| fs::read(outside.join(n)).unwrap())
            .collect();
        let out = import(&env, "b.txt", "second");
        assert_eq!(out.status.code(), Some(7), "{kind}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_one_line_error(
            &stderr,
            if kind == "symlink" {
                "symbolic link"
            } else {
                "hard links"
            },
        );
        for (n, b) in ["leaves", "hashes"].iter().zip(&before) {
            assert_eq!(
                &fs::read(outside.join(n)).unwrap(),
                b,
                "{kind}: {n} was written"
            );
        }
        let errors = audit_errors(&env);
        for name in ["log/leaves", "log/hashes"] {
            assert!(
                errors.iter().any(|(p, _)| p == name),
                "{kind}: audit does not name {name}: {errors:?}"
            );
        }
    }
}

#[test]
fn links_and_special_files_anywhere_are_audit_errors() {
    let env = Env::new();
    let id = imported_id(&import(&env, "a.txt", "first"));
    let v = victim(&env);
    // A whole data directory replaced by a link, a link among the records, and a named pipe
    // (which must not make audit hang).
    let shard = &id[3..5];
    let rec = env.archive.join("records").join(shard);
    symlink(v.join("precious.txt"), rec.join("EX-LINK-LINK-LINK.json")).unwrap();
    let fifo = env.archive.join("keys").join("pipe.pem");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let errors = audit_errors(&env);
    assert!(
        errors
            .iter()
            .any(|(p, w)| p.ends_with("EX-LINK-LINK-LINK.json") && w.contains("symbolic link")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|(p, w)| p == "keys/pipe.pem" && w.contains("named pipe")),
        "{errors:?}"
    );
    // The documents directory itself as a link to somewhere else: writes refuse.
    fs::remove_file(&fifo).unwrap();
    let docs = env.archive.join("documents");
    let moved = env.dir.path().join("moved-documents");
    fs::rename(&docs, &moved).unwrap();
    symlink(&moved, &docs).unwrap();
    let out = import(&env, "b.txt", "second");
    assert_eq!(out.status.code(), Some(7));
    assert_one_line_error(&String::from_utf8_lossy(&out.stderr), "symbolic link");
    // Reading through the link is refused too: verify cannot be pointed at other bytes.
    let r = env.run(&["verify", &id]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_victim_intact(&v);
}

#[test]
fn a_forged_interrupted_write_never_destroys_committed_records() {
    let env = Env::new();
    let first = imported_id(&import(&env, "a.txt", "first"));
    // Signed in another second than the first: copied lines of two commits are still no
    // evidence of an older checkpoint, since they name committed records.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = imported_id(&import(&env, "b.txt", "second"));
    // Without any key: copy a committed line of log/leaves beyond the checkpoint, as the
    // review did (`head -c 83 A/log/leaves >> A/log/leaves`), and one line for each record.
    let leaves = env.archive.join("log").join("leaves");
    let bytes = fs::read(&leaves).unwrap();
    let mut forged = bytes.clone();
    forged.extend_from_slice(&bytes[83..166]);
    forged.extend_from_slice(&bytes[..83]);
    fs::write(&leaves, &forged).unwrap();
    let hashes = env.archive.join("log").join("hashes");
    let mut h = fs::read(&hashes).unwrap();
    h.extend_from_slice(&[7u8; 64]);
    fs::write(&hashes, &h).unwrap();

    // Audit calls the forged tail damage, not an interrupted write.
    let errors = audit_errors(&env);
    assert!(
        errors
            .iter()
            .any(|(p, w)| p == "log/leaves" && w.contains("names committed record")),
        "{errors:?}"
    );
    // The owner's next write rolls back the tail but removes nothing a committed leaf names.
    imported_id(&import(&env, "c.txt", "third"));
    for id in [&first, &second] {
        env.ok(&["verify", id]);
    }
    env.assert_audit_clean();
}

#[test]
fn planted_scratch_files_are_removed_by_the_next_writer() {
    let env = Env::new();
    imported_id(&import(&env, "a.txt", "first"));
    let tmp = env.archive.join("tmp");
    fs::write(tmp.join("planted.bin"), b"junk").unwrap();
    fs::create_dir_all(tmp.join("w999-abandoned").join("deep")).unwrap();
    fs::write(tmp.join("w999-abandoned").join("deep").join("x"), b"junk").unwrap();
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 0, "{v:#}");
    assert!(v["warnings"].as_u64().unwrap() >= 2, "{v:#}");
    imported_id(&import(&env, "b.txt", "second"));
    assert!(files_under(&tmp).is_empty(), "{:?}", files_under(&tmp));
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 0);
    assert_eq!(v["warnings"], 0, "{v:#}");
}

/// Issue 9 item 3: eight processes creating one archive (and one default key) at once, fifty
/// times. Every reported record must be present and verify, there must be one origin, the key
/// pair must be one key, and the archive must audit clean.
#[test]
fn eight_processes_creating_one_archive_lose_nothing() {
    const PROCS: usize = 8;
    const TRIALS: usize = 50;
    for trial in 0..TRIALS {
        let env = Env::bare();
        let mut children = Vec::new();
        for p in 0..PROCS {
            let f = env.dir.path().join(format!("doc{p}.txt"));
            fs::write(&f, format!("trial {trial} process {p}")).unwrap();
            children.push(
                env.command(&[
                    "import",
                    "--init",
                    f.to_str().unwrap(),
                    "--url",
                    &format!("https://example.org/{p}"),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
            );
        }
        let mut ids = Vec::new();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "trial {trial}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            ids.push(
                String::from_utf8(out.stdout)
                    .unwrap()
                    .split("  ")
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        // One origin: the metadata and the checkpoint agree.
        let config: serde_json::Value =
            serde_json::from_slice(&fs::read(env.archive.join("exhibit.json")).unwrap()).unwrap();
        let checkpoint = fs::read_to_string(env.archive.join("log").join("checkpoint")).unwrap();
        assert_eq!(
            checkpoint.lines().next().unwrap(),
            config["origin"].as_str().unwrap(),
            "trial {trial}"
        );
        // The founding key record, then one record per process.
        assert_eq!(checkpoint.lines().nth(1).unwrap(), (PROCS + 1).to_string());
        // One key: the public key beside the secret is the one every record is signed by, and
        // the only key the archive trusts.
        let keys = files_under(&env.archive.join("keys"));
        assert_eq!(keys.len(), 1, "trial {trial}: {keys:?}");
        assert_eq!(
            fs::read(&keys[0]).unwrap(),
            fs::read(format!("{}.pub", env.key.display())).unwrap(),
            "trial {trial}: the secret and public key files hold different keys"
        );
        let r = env.run(
            &[
                "verify",
                "--trusted-key",
                &format!("{}.pub", env.key.display()),
            ]
            .into_iter()
            .chain(ids.iter().map(String::as_str))
            .collect::<Vec<_>>(),
        );
        assert_eq!(r.code, 0, "trial {trial}: {}{}", r.stdout, r.stderr);
        env.assert_audit_clean();
        // No staging directory is left beside the archive.
        let leftovers: Vec<_> = fs::read_dir(env.dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".init-"))
            .collect();
        assert!(leftovers.is_empty(), "trial {trial}: {leftovers:?}");
    }
}

#[test]
fn init_refuses_a_non_empty_directory_that_is_not_an_archive() {
    let env = Env::bare();
    fs::create_dir_all(&env.archive).unwrap();
    fs::write(env.archive.join("notes.txt"), b"mine").unwrap();
    let r = env.fails(&["init"], 2);
    assert_one_line_error(&r.stderr, "not empty");
    assert_eq!(fs::read(env.archive.join("notes.txt")).unwrap(), b"mine");
    // An empty directory (say, a mounted volume) is fine.
    fs::remove_file(env.archive.join("notes.txt")).unwrap();
    env.ok(&["init"]);
    env.assert_audit_clean();
}

/// Bytes beyond the checkpoint in `log/leaves` are the tail an interrupted write may leave: a
/// warning for audit, cut off by the next writer. Their length comes from the file alone, so
/// 64 GiB of them (a sparse file: nothing is written) once made audit and every writer try to
/// allocate 64 GiB and abort; they cost one malformed line now.
#[test]
fn a_log_grown_by_gigabytes_is_read_a_piece_at_a_time() {
    let env = Env::new();
    imported_id(&import(&env, "a.html", "<p>a</p>"));
    let leaves = env.archive.join("log/leaves");
    let f = fs::OpenOptions::new().write(true).open(&leaves).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len + (64 << 30)).unwrap();
    drop(f);
    let (code, report) = env.audit(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["path"] == "log/leaves" && p["severity"] == "warning"),
        "{report:#}"
    );
    imported_id(&import(&env, "b.html", "<p>b</p>"));
    assert_eq!(fs::metadata(&leaves).unwrap().len(), len + 83);
    env.assert_audit_clean();
}

/// A file named `tmp` or a directory named `lock` stops every writer (it cannot make its scratch
/// directory, or lock the archive), so audit must not call such an archive OK.
#[test]
fn a_file_for_tmp_or_a_directory_for_lock_fails_the_audit() {
    let env = Env::new();
    imported_id(&import(&env, "a.html", "<p>a</p>"));
    let tmp = env.archive.join("tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).unwrap();
    }
    fs::write(&tmp, "junk").unwrap();
    let errors = audit_errors(&env);
    assert!(
        errors
            .iter()
            .any(|(p, w)| p == "tmp" && w.contains("scratch directory")),
        "{errors:?}"
    );
    fs::remove_file(&tmp).unwrap();
    env.assert_audit_clean();

    let lock = env.archive.join("lock");
    fs::remove_file(&lock).unwrap();
    fs::create_dir(&lock).unwrap();
    let errors = audit_errors(&env);
    assert!(
        errors
            .iter()
            .any(|(p, w)| p == "lock" && w.contains("lock file")),
        "{errors:?}"
    );
}

/// An older genuine `log/checkpoint` put back makes the commits after it look like the tail of
/// an interrupted write. A writer once rolled them back, deleting committed records and handing
/// their IDs to new captures. A commit signs its batch at one instant, so a tail signed in
/// several commits is no interrupted write: audit calls it an error and writers refuse it.
#[test]
fn an_older_checkpoint_put_back_never_makes_a_writer_delete_commits() {
    for layout in ["loose", "packed"] {
        let env = Env::bare();
        env.ok(&["init", "--layout", layout]);
        imported_id(&import(&env, "a.html", "<p>a</p>"));
        let old = fs::read(env.archive.join("log/checkpoint")).unwrap();
        let mut later = Vec::new();
        for name in ["b.html", "c.html", "d.html"] {
            // One second apart: `signed_at` has whole seconds.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            later.push(imported_id(&import(&env, name, name)));
        }
        let newest = fs::read(env.archive.join("log/checkpoint")).unwrap();
        fs::write(env.archive.join("log/checkpoint"), &old).unwrap();
        let errors = audit_errors(&env);
        assert!(
            errors
                .iter()
                .any(|(p, w)| p == "log/leaves" && w.contains("signed in 3 commits")),
            "{layout}: {errors:?}"
        );
        let out = import(&env, "e.html", "<p>e</p>");
        assert_eq!(out.status.code(), Some(7), "{layout}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("refusing to roll back 3 records"),
            "{layout}: {out:?}"
        );
        // Nothing was removed: with the newest checkpoint back, every record is there.
        fs::write(env.archive.join("log/checkpoint"), &newest).unwrap();
        env.assert_audit_clean();
        let listed = env.ok(&["list"]);
        for id in &later {
            assert!(
                listed.contains(id.as_str()),
                "{layout}: {id} lost: {listed}"
            );
        }
    }
}

/// `log/leaves` is an index no signature covers. A line edited to hide a document must not turn
/// "verify HASH" (or the viewer's lookup, or `verify --file` with a prefix) into "the archive
/// holds no such document": absence is claimed only when every committed manifest agrees with
/// the signed log, and otherwise the archive is reported damaged (exit 1).
#[test]
fn an_edited_index_never_makes_a_document_absent() {
    for layout in ["loose", "packed"] {
        let env = Env::bare();
        env.ok(&["init", "--layout", layout]);
        let hidden = imported_id(&import(&env, "a.txt", "the cited document"));
        imported_id(&import(&env, "b.txt", "another document"));
        let sha = common::sha256_hex(b"the cited document");
        let absent = common::sha256_hex(b"never archived");

        // Genuine absence, on an intact archive: exit 3, backed by the signed log.
        let r = env.fails(&["verify", &format!("sha256:{absent}")], 3);
        assert!(
            r.stderr.contains("agree with the signed log"),
            "{}",
            r.stderr
        );
        let found = env.ok(&["verify", &format!("sha256:{sha}")]);
        assert!(found.contains(&hidden), "{found}");

        // The line of the cited record now names another document.
        let leaves = env.archive.join("log/leaves");
        let text = fs::read_to_string(&leaves).unwrap();
        let edited = text.replace(&format!("{hidden} {sha}"), &format!("{hidden} {absent}"));
        assert_ne!(text, edited);
        fs::write(&leaves, &edited).unwrap();
        for target in [sha.clone(), sha[..12].to_string()] {
            let r = env.fails(&["verify", &format!("sha256:{target}")], 1);
            assert_one_line_error(&r.stderr, "disagrees with its signed log at leaf");
            assert!(r.stderr.contains(&hidden), "{}", r.stderr);
            let r = env.fails(&["verify", "--json", &format!("sha256:{target}")], 1);
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(v["errors"][0]["exit_code"], 1, "{v:#}");
        }
        // Every command that names a record by its document's hash says the same.
        for cmd in ["show", "cite", "cat", "prove", "history"] {
            let r = env.fails(&[cmd, &format!("sha256:{sha}")], 1);
            assert_one_line_error(&r.stderr, "disagrees with its signed log at leaf");
        }
        let out = env.dir.path().join("x.zip");
        let r = env.fails(
            &[
                "export",
                &format!("sha256:{sha}"),
                "--out",
                out.to_str().unwrap(),
            ],
            1,
        );
        assert_one_line_error(&r.stderr, "disagrees with its signed log at leaf");
        // A file that shares a prefix of the hidden document, asked about by that prefix.
        let f = env.dir.path().join("a-copy.txt");
        fs::write(&f, b"the cited document").unwrap();
        let r = env.fails(&["verify", "--file", f.to_str().unwrap(), &sha[..16]], 1);
        assert_one_line_error(&r.stderr, "disagrees with its signed log");

        // The line names a forged file's hash instead: the file must not be held to it.
        let forged = env.dir.path().join("forged.txt");
        fs::write(&forged, b"a forged document").unwrap();
        let forged_sha = common::sha256_hex(b"a forged document");
        fs::write(
            &leaves,
            text.replace(
                &format!("{hidden} {sha}"),
                &format!("{hidden} {forged_sha}"),
            ),
        )
        .unwrap();
        let r = env.fails(
            &[
                "verify",
                "--file",
                forged.to_str().unwrap(),
                &forged_sha[..16],
            ],
            1,
        );
        assert_one_line_error(&r.stderr, "disagrees with its signed log");

        // Lines swapped between two records (each line still matches its own manifest): the
        // manifests no longer hash to the signed root (in the packed layout, log/places finds
        // records by their line, so there a line already names a record it cannot find).
        let mut lines: Vec<&str> = text.lines().collect();
        lines.swap(0, 1);
        fs::write(&leaves, lines.join("\n") + "\n").unwrap();
        let r = env.fails(&["verify", &format!("sha256:{absent}")], 1);
        let why = if layout == "loose" {
            "do not hash to the root of its signed checkpoint"
        } else {
            "altered or damaged"
        };
        assert_one_line_error(&r.stderr, why);

        fs::write(&leaves, &text).unwrap();
        env.fails(&["verify", &format!("sha256:{absent}")], 3);
    }
}
