//! docs/CI.md's nightly shell recipe, run literally over simulated nights on a real archive.
//!
//! The script is extracted from between `<!-- nightly-audit.sh begin -->` and
//! `<!-- nightly-audit.sh end -->`, so the page and this test cannot drift apart. It runs with
//! `sh` and the real `exhibit` and `openssl` on PATH; only `date +%u` is simulated, by a `date`
//! ahead on PATH that answers the night's weekday and hands everything else to the real one.
//! Nights: refused without state, the first night, ordinary nights with new records, a week
//! with a tampered cited document (caught on its night only, "not read" on the others, never
//! "archive OK"), a wrong pinned key, a filed checkpoint (`SINCE`), and a rollback.

mod common;

use common::Env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const CI_MD: &str = include_str!("../docs/CI.md");

/// The one ```sh block between the recipe's markers.
fn recipe() -> String {
    let (begin, end) = (
        "<!-- nightly-audit.sh begin -->",
        "<!-- nightly-audit.sh end -->",
    );
    assert_eq!(
        CI_MD.matches(begin).count(),
        1,
        "{begin} once in docs/CI.md"
    );
    assert_eq!(CI_MD.matches(end).count(), 1, "{end} once in docs/CI.md");
    let region = CI_MD[CI_MD.find(begin).unwrap() + begin.len()..CI_MD.find(end).unwrap()].trim();
    assert!(
        region.starts_with("```sh\n")
            && region.ends_with("\n```")
            && region.matches("```").count() == 2,
        "docs/CI.md must hold exactly one ```sh block between the markers:\n{region}"
    );
    region["```sh\n".len()..region.len() - 3].to_string()
}

struct Night {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Night {
    fn summary(&self) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with("audit: "))
            .unwrap_or_else(|| panic!("no summary line:\n{}{}", self.stdout, self.stderr))
    }
}

struct Ci {
    env: Env,
    /// The CI checkout: `archive/`, `.ci/archive-key.pub`, `.ci/nightly-audit.sh`, `audit-state/`.
    work: PathBuf,
    bin: PathBuf,
    key_id: String,
}

impl Ci {
    fn new() -> Ci {
        let env = Env::new();
        let work = env.dir.path().to_path_buf();
        assert_eq!(env.archive, work.join("archive"));
        fs::create_dir_all(work.join(".ci")).unwrap();
        fs::copy(
            format!("{}.pub", env.key.display()),
            work.join(".ci/archive-key.pub"),
        )
        .unwrap();
        fs::write(work.join(".ci/nightly-audit.sh"), recipe()).unwrap();
        let key_id = fs::read_dir(env.archive.join("keys"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().replace(".pem", ""))
            .next()
            .unwrap();
        // `exhibit`, and a `date` that answers the simulated weekday to `date +%u`.
        let bin = work.join("ci-bin");
        fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(common::bin(), bin.join("exhibit")).unwrap();
        let real_date = Command::new("sh")
            .args(["-c", "command -v date"])
            .output()
            .unwrap();
        let real_date = String::from_utf8(real_date.stdout).unwrap();
        let shim = bin.join("date");
        fs::write(
            &shim,
            format!(
                "#!/bin/sh\nif [ \"$1\" = +%u ]; then echo \"$SIMULATED_WEEKDAY\"; else exec {} \"$@\"; fi\n",
                real_date.trim()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).unwrap();
        Ci {
            env,
            work,
            bin,
            key_id,
        }
    }

    fn state(&self) -> PathBuf {
        self.work.join("audit-state/checkpoint")
    }

    fn night(&self, weekday: u32, vars: &[(&str, &str)]) -> Night {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new("sh");
        c.arg(".ci/nightly-audit.sh")
            .current_dir(&self.work)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.work)
            .env("NO_COLOR", "1")
            .env("SIMULATED_WEEKDAY", weekday.to_string())
            .env("KEY_ID", &self.key_id);
        for (k, v) in vars {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        Night {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Import `n` documents under their own URLs; returns (record ID, URL, sha256) of each.
    fn add(&self, tag: &str, n: usize) -> Vec<(String, String, String)> {
        (0..n)
            .map(|i| {
                let f = self.work.join(format!("{tag}-{i}.txt"));
                let body = format!("night document {tag} {i}");
                fs::write(&f, &body).unwrap();
                let url = format!("https://example.org/{tag}/{i}");
                let out = self
                    .env
                    .ok(&["import", "--json", f.to_str().unwrap(), "--url", &url]);
                let v: serde_json::Value =
                    serde_json::from_str(out.lines().next().unwrap()).unwrap();
                (
                    v["record_id"].as_str().unwrap().to_string(),
                    url,
                    common::sha256_hex(body.as_bytes()),
                )
            })
            .collect()
    }
}

fn subset_of(sha: &str, m: u64) -> u32 {
    (u64::from_str_radix(&sha[..16], 16).unwrap() % m + 1) as u32
}

fn blob(archive: &Path, sha: &str) -> PathBuf {
    archive
        .join("documents")
        .join(&sha[..2])
        .join(format!("{sha}.zst"))
}

#[test]
fn the_nightly_recipe_runs_literally_over_simulated_nights() {
    let ci = Ci::new();
    // The founding key record init wrote counts like any record and document.
    let (fid, fsha) = ci.env.founding().unwrap();
    let mut docs = vec![(fid, "exhibit:key".to_string(), fsha)];
    docs.extend(ci.add("mon", 6));

    // Without a kept checkpoint and without FIRST_NIGHT the recipe refuses, and creates nothing.
    let n = ci.night(1, &[]);
    assert_eq!(n.code, 2, "{}{}", n.stdout, n.stderr);
    assert!(
        n.stderr.contains("no checkpoint from a previous night"),
        "{}",
        n.stderr
    );
    assert!(!ci.work.join("audit-state").exists());

    // The first night: the baseline.
    let n = ci.night(1, &[("FIRST_NIGHT", "yes")]);
    assert_eq!(n.code, 0, "{}{}", n.stdout, n.stderr);
    assert!(n.stdout.contains("first night"), "{}", n.stdout);
    assert!(n.stdout.contains("(first run)"), "{}", n.stdout);
    assert!(n
        .stdout
        .contains(&format!("trust: pinned with --trusted-key: {}", ci.key_id)));
    assert_eq!(
        fs::read_to_string(ci.state()).unwrap(),
        ci.env.ok(&["checkpoint"])
    );
    let monday_log: Vec<(&str, Vec<u8>)> = ["leaves", "hashes", "checkpoint"]
        .iter()
        .map(|f| (*f, fs::read(ci.env.archive.join("log").join(f)).unwrap()))
        .collect();

    // Ordinary nights: the archive grows, each night proves it only grew.
    for (day, tag) in [(2, "tue"), (3, "wed")] {
        docs.extend(ci.add(tag, 4));
        let n = ci.night(day, &[]);
        assert_eq!(n.code, 0, "{}{}", n.stdout, n.stderr);
        assert!(
            n.stdout
                .contains("history: the log extends the checkpoint of"),
            "{}",
            n.stdout
        );
        assert!(!n.summary().contains("archive OK"), "{}", n.summary());
        assert_eq!(
            fs::read_to_string(ci.state()).unwrap(),
            ci.env.ok(&["checkpoint"])
        );
    }
    let total = docs.len();
    assert_eq!(total, 15);

    // A tampered cited document: one night in seven reads it and fails, naming the record and
    // URL; the others pass, counting it among the documents "not read", never "archive OK".
    let (id, url, sha) = docs[10].clone();
    let path = blob(&ci.env.archive, &sha);
    let genuine = fs::read(&path).unwrap();
    let mut bad = genuine.clone();
    bad[12] ^= 0x20;
    fs::write(&path, &bad).unwrap();
    let its_night = subset_of(&sha, 7);
    let kept = fs::read(ci.state()).unwrap();
    for day in 1..=7 {
        let n = ci.night(day, &[]);
        let reads = docs.iter().filter(|d| subset_of(&d.2, 7) == day).count();
        assert!(!n.summary().contains("archive OK"), "{}", n.summary());
        if day == its_night {
            assert_eq!(n.code, 1, "day {day}: {}", n.stdout);
            assert!(n.summary().contains("FAILED"), "{}", n.summary());
            let err = n
                .stdout
                .lines()
                .find(|l| l.starts_with("error: ") && l.contains(&sha))
                .unwrap_or_else(|| panic!("day {day}: {}", n.stdout));
            assert!(err.contains(&format!("{id} ({url})")), "{err}");
            assert!(n.stdout.contains("left unchanged"), "{}", n.stdout);
        } else {
            assert_eq!(n.code, 0, "day {day}: {}{}", n.stdout, n.stderr);
            assert!(
                n.summary().ends_with(&format!(
                    "documents: {reads} of {total} read (subset {day}/7), {} not read in this run: OK for what was read",
                    total - reads
                )),
                "day {day}: {}",
                n.summary()
            );
        }
    }
    // The failing night did not move the state on (nothing was added this week, so the
    // passing nights rewrote the same checkpoint).
    assert_eq!(fs::read(ci.state()).unwrap(), kept);
    fs::write(&path, &genuine).unwrap();
    let n = ci.night(its_night, &[]);
    assert_eq!(n.code, 0, "{}", n.stdout);

    // A committed key that is not the published one: the recipe stops before auditing.
    let n = ci.night(4, &[("KEY_ID", "0123456789abcdef")]);
    assert_eq!(n.code, 2, "{}{}", n.stdout, n.stderr);
    assert!(
        n.stderr.contains("not the published 0123456789abcdef"),
        "{}",
        n.stderr
    );
    assert!(n.stdout.is_empty(), "{}", n.stdout);

    // A checkpoint filed on Monday, given as SINCE, is proven extended too.
    let filed = ci.work.join("filed.checkpoint");
    fs::write(&filed, &monday_log[2].1).unwrap();
    let n = ci.night(5, &[("SINCE", filed.to_str().unwrap())]);
    assert_eq!(n.code, 0, "{}{}", n.stdout, n.stderr);
    assert!(
        n.stdout
            .contains("the log extends the --since checkpoint of 7 records"),
        "{}",
        n.stdout
    );

    // The rollback: Monday's log put back, everything newer removed. Every file is genuine, so
    // a plain audit passes; the recipe's kept checkpoint catches it, and keeps catching it.
    let kept = fs::read(ci.state()).unwrap();
    for (f, bytes) in &monday_log {
        fs::write(ci.env.archive.join("log").join(f), bytes).unwrap();
    }
    for (id, _, sha) in &docs[7..] {
        for ext in ["json", "sig"] {
            fs::remove_file(
                ci.env
                    .archive
                    .join("records")
                    .join(&id[3..5])
                    .join(format!("{id}.{ext}")),
            )
            .unwrap();
        }
        fs::remove_file(blob(&ci.env.archive, sha)).unwrap();
    }
    ci.env.assert_audit_clean();
    for day in [6, 7] {
        let n = ci.night(day, &[]);
        assert_eq!(n.code, 1, "{}{}", n.stdout, n.stderr);
        let err = n
            .stdout
            .lines()
            .find(|l| l.starts_with("error: ") && l.contains("audit-state/checkpoint"))
            .unwrap_or_else(|| panic!("{}", n.stdout));
        assert!(err.contains("rolled back"), "{err}");
        assert!(n.summary().contains("FAILED"), "{}", n.summary());
        assert_eq!(fs::read(ci.state()).unwrap(), kept);
    }
}
