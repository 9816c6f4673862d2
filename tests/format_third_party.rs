//! docs/FORMAT.md, followed literally, with tools that are not ours.
//!
//! The test builds an archive with the real `exhibit` binary, then checks its records using only
//! bash, coreutils, `zstd`, `openssl` and Python's `cryptography`: it runs the exact shell steps
//! and Python scripts that FORMAT.md's "Verify a record without exhibit" section prints. They
//! are extracted from between the `<!-- verify.sh begin -->` / `<!-- verify.sh end -->` (and
//! `verify.py`, `hashes.py`) markers, so the document and this test cannot drift apart. Every
//! check is also run against tampered copies of the archive, where it must fail.
//!
//! A missing outside tool fails the test with what to install; it never skips. CI installs them
//! (.ci/test).

mod common;

use common::server::{Route, TestServer};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FORMAT_MD: &str = include_str!("../docs/FORMAT.md");

fn exhibit_bin() -> &'static str {
    env!("CARGO_BIN_EXE_exhibit")
}

/// The body of the one fenced block of language `lang` between `<!-- {name} begin -->` and
/// `<!-- {name} end -->` in FORMAT.md.
fn fenced(name: &str, lang: &str) -> String {
    let begin = format!("<!-- {name} begin -->");
    let end = format!("<!-- {name} end -->");
    assert_eq!(
        FORMAT_MD.matches(&begin).count(),
        1,
        "FORMAT.md must contain {begin} exactly once"
    );
    assert_eq!(
        FORMAT_MD.matches(&end).count(),
        1,
        "FORMAT.md must contain {end} exactly once"
    );
    let start = FORMAT_MD.find(&begin).unwrap() + begin.len();
    let stop = FORMAT_MD.find(&end).unwrap();
    assert!(start < stop, "{begin} must come before {end}");
    let region = FORMAT_MD[start..stop].trim();
    let open = format!("```{lang}\n");
    assert!(
        region.starts_with(&open) && region.ends_with("\n```") && region.matches("```").count() == 2,
        "between {begin} and {end} FORMAT.md must hold exactly one ```{lang} block, found:\n{region}"
    );
    region[open.len()..region.len() - 3].to_string()
}

/// An outside tool must refuse tampered input, and say why in its own words.
fn assert_refused(o: &Output, tool: &str, what: &str, says: &str) {
    assert!(!o.status.success(), "{tool} accepted {what}:\n{}", text(o));
    assert!(text(o).contains(says), "{}", text(o));
}

fn text(o: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Outside tools the documented procedure needs. All missing ones are named at once, with what
/// to install.
fn require_tools() {
    let mut missing = Vec::new();
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !works("bash", &["-c", "true"]) {
        missing.push("bash".to_string());
    }
    let coreutils =
        "sha256sum head tail od cut tr wc base64 cat mktemp sort uniq diff sed awk grep";
    let absent = Command::new("bash")
        .args([
            "-c",
            &format!("for t in {coreutils}; do command -v $t >/dev/null || printf '%s ' $t; done"),
        ])
        .output()
        .map(|o| stdout(&o))
        .unwrap_or_else(|_| coreutils.to_string());
    if !absent.trim().is_empty() {
        missing.push(format!(
            "{} (GNU coreutils, diffutils, sed, gawk or mawk, grep: apt-get install coreutils diffutils sed mawk grep)",
            absent.trim()
        ));
    }
    if !works("zstd", &["--version"]) {
        missing.push("zstd (apt-get install zstd, brew install zstd)".into());
    }
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .ok()
        .filter(|o| o.status.success());
    match openssl.map(|o| stdout(&o)) {
        None => {
            missing.push("openssl 3.x (apt-get install openssl, brew install openssl@3)".into())
        }
        Some(v) => {
            let major = v
                .strip_prefix("OpenSSL ")
                .and_then(|r| r.split('.').next())
                .and_then(|m| m.parse::<u32>().ok());
            if major.is_none_or(|m| m < 3) {
                missing.push(format!(
                    "openssl 3.x, for `pkeyutl -rawin` (found {:?}; apt-get install openssl, brew install openssl@3)",
                    v.trim()
                ));
            }
        }
    }
    if !works(
        "python3",
        &[
            "-c",
            "import cryptography.hazmat.primitives.asymmetric.ed25519",
        ],
    ) {
        missing.push(
            "python3 with the `cryptography` package (apt-get install python3 python3-cryptography, \
             or python3 -m pip install cryptography)"
                .into(),
        );
    }
    assert!(
        missing.is_empty(),
        "docs/FORMAT.md's third-party verification cannot run; install: {}",
        missing.join("; ")
    );
}

/// An archive built by the real binary, and the records in it, in log order.
struct Fixture {
    dir: tempfile::TempDir,
    archive: PathBuf,
    key: PathBuf,
    records: Vec<String>,
}

const PAGE: &str = "<!doctype html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
<title>Conditions g\u{e9}n\u{e9}rales &amp; mentions</title></head>\n\
<body><p>Caf\u{e9} \u{2014} \"quoted\" \\ backslash</p></body></html>\n";

impl Fixture {
    fn exhibit(&self, args: &[&str]) -> Output {
        Command::new(exhibit_bin())
            .args(args)
            .env("EXHIBIT_ARCHIVE", &self.archive)
            .env("EXHIBIT_KEY", &self.key)
            .env("NO_COLOR", "1")
            .output()
            .expect("run exhibit")
    }

    fn build() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut fx = Fixture {
            archive: dir.path().join("archive"),
            key: dir.path().join("secret").join("signing.key"),
            records: Vec::new(),
            dir,
        };
        let init = fx.exhibit(&["init", "--layout", "loose"]);
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        let input = fx.dir.path().join("input");
        fs::create_dir_all(&input).unwrap();
        fs::write(input.join("page.html"), PAGE).unwrap();
        let binary: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
        fs::write(input.join("data.bin"), binary).unwrap();
        fs::write(input.join("empty.txt"), b"").unwrap();
        // Large and varied enough for several zstd blocks (128 KiB each).
        let mut big = String::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        while big.len() < 400_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            big.push_str(&format!("{x:016x} line {}\n", big.len()));
        }
        fs::write(input.join("big.txt"), big).unwrap();

        let p = |name: &str| input.join(name).display().to_string();
        let imports: Vec<Vec<String>> = vec![
            vec![
                p("page.html"),
                "--url".into(),
                "https://Example.org/terms?x=1".into(),
                "--content-type".into(),
                "text/html; charset=utf-8".into(),
                "--entity".into(),
                "Example \"Corp\"".into(),
                // A label built to trip up naive extraction of the document hash from the manifest.
                "--document".into(),
                format!(
                    ",\"document\":{{\"sha256\":\"{}\",\"size\":1}}",
                    "0".repeat(64)
                ),
                "--note".into(),
                "two\nlines, \"signer\":\"0123456789abcdef\"}".into(),
            ],
            vec![
                p("data.bin"),
                "--url".into(),
                "https://example.org/data.bin".into(),
                "--captured-at".into(),
                "2026-05-21T07:07:28.9+02:00".into(),
            ],
            vec![
                p("empty.txt"),
                "--url".into(),
                "https://example.org/empty".into(),
            ],
            vec![
                p("big.txt"),
                "--url".into(),
                "https://example.org/big.txt".into(),
            ],
            // The same document again: stored once, cited twice.
            vec![
                p("page.html"),
                "--url".into(),
                "https://example.org/copy".into(),
            ],
        ];
        for args in imports {
            let mut all = vec!["import"];
            all.extend(args.iter().map(String::as_str));
            let o = fx.exhibit(&all);
            assert!(o.status.success(), "exhibit {all:?} failed:\n{}", text(&o));
            let id = stdout(&o)
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            assert!(
                id.len() == 17 && id.starts_with("EX-"),
                "no record ID in:\n{}",
                text(&o)
            );
            fx.records.push(id);
        }
        // A version-3 capture (section 1.2): through a proxy, with a redacted header, from a
        // server whose headers try to trip up naive extraction as the labels above do. The
        // "proxy" is a loopback server answering the absolute-form request itself.
        let srv = TestServer::start(vec![(
            "/account",
            Route::Status {
                status: 200,
                reason: "OK",
                content_type: "text/html; charset=utf-8",
                body: b"<!doctype html><title>Account</title><p>Hello".to_vec(),
                headers: vec![
                    (
                        "Set-Cookie".into(),
                        b"sid=8f14e45fceea167a; HttpOnly".to_vec(),
                    ),
                    (
                        "X-Trap".into(),
                        b"\",\"signer\":\"0123456789abcdef\"}".to_vec(),
                    ),
                ],
            },
        )]);
        let proxy = format!("http://{}", srv.addr());
        let o = fx.exhibit(&[
            "capture",
            "http://example.org/account",
            "--proxy",
            &proxy,
            "--redact-header",
            "set-cookie",
        ]);
        assert!(o.status.success(), "exhibit capture failed:\n{}", text(&o));
        let id = stdout(&o).split_whitespace().next().unwrap().to_string();
        let m = fx.manifest(&id);
        assert_eq!(m["format"], "exhibit-manifest/3");
        assert_eq!(m["http"]["proxy"], format!("{proxy}/"));
        assert_eq!(m["http"]["redacted_headers"][0], "set-cookie");
        fx.records.push(id);

        // exhibit itself must find the archive sound, or the outside checks prove nothing.
        let o = fx.exhibit(&["audit"]);
        assert!(
            o.status.success(),
            "exhibit audit of the fixture failed:\n{}",
            text(&o)
        );
        fx
    }

    fn manifest_path(&self, archive: &Path, id: &str) -> PathBuf {
        archive
            .join("records")
            .join(&id[3..5])
            .join(format!("{id}.json"))
    }

    fn manifest(&self, id: &str) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.manifest_path(&self.archive, id)).unwrap()).unwrap()
    }

    fn blob_path(&self, archive: &Path, sha: &str) -> PathBuf {
        archive
            .join("documents")
            .join(&sha[..2])
            .join(format!("{sha}.zst"))
    }

    /// FORMAT.md's shell steps, run by bash exactly as printed, for one record.
    fn verify_sh(&self, archive: &Path, record: &str, env: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(fenced("verify.sh", "bash"))
            .env_remove("KEY")
            .env_remove("CPKEY")
            .env("ARCHIVE", archive)
            .env("RECORD", record);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run bash")
    }

    /// One of FORMAT.md's Python scripts, written to a file and run as FORMAT.md says.
    fn python(&self, script: &str, args: &[&Path]) -> Output {
        let path = self.dir.path().join(script);
        fs::write(&path, fenced(script, "python")).unwrap();
        Command::new("python3")
            .arg(&path)
            .args(args)
            .output()
            .expect("run python3")
    }

    fn verify_py(&self, archive: &Path, record: &str, keys: &[&Path]) -> Output {
        let mut args = vec![archive, Path::new(record)];
        args.extend_from_slice(keys);
        self.python("verify.py", &args)
    }

    /// A copy of the archive, changed by `f`, for showing that a check fails.
    fn tampered(&self, name: &str, f: impl FnOnce(&Path)) -> PathBuf {
        let copy = self.dir.path().join(format!("tampered-{name}"));
        copy_dir(&self.archive, &copy);
        f(&copy);
        copy
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn flip_byte(path: &Path, offset: usize, mask: u8) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset] ^= mask;
    fs::write(path, bytes).unwrap();
}

/// A literal shell command line, run by bash; returns its output.
fn bash(script: &str) -> Output {
    Command::new("bash")
        .args(["-c", &format!("set -euo pipefail\n{script}")])
        .output()
        .expect("run bash")
}

fn bash_ok(script: &str) -> String {
    let o = bash(script);
    assert!(o.status.success(), "`{script}` failed:\n{}", text(&o));
    stdout(&o).trim().to_string()
}

fn q(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// Signatures verified for the record itself: after the shell steps name the signer (step 4),
/// so the key records' signatures checked before (step 3) are not counted.
fn verified_count(o: &Output) -> usize {
    let t = text(o);
    let after = t
        .lines()
        .position(|l| {
            l.strip_prefix("key ")
                .is_some_and(|k| k.len() == 16 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .map_or(0, |i| i + 1);
    t.lines()
        .skip(after)
        .filter(|l| *l == "Signature Verified Successfully")
        .count()
        * usize::from(after > 0)
}

#[test]
fn format_md_procedure_verifies_every_record_with_outside_tools() {
    require_tools();
    let fx = Fixture::build();
    let archive = fx.archive.as_path();

    // The documented procedure really uses the outside tools the brief promises.
    let script = fenced("verify.sh", "bash");
    for needle in [
        "zstd -dc \"$BLOB\" | sha256sum",
        "openssl pkeyutl -verify -pubin -inkey \"$T/book/$SIGNER.pem\" -rawin -in \"$M\" -sigfile \"$S\"",
        "tail -c 48 \"$BLOB\" | head -c 16 | od -An -tx1",
        "tail -c 32 \"$BLOB\" | od -An -tx1",
        "printf '\\000' | cat - \"$M\" | sha256sum",
        "openssl pkeyutl -verify -pubin -inkey \"$K\" -rawin -in \"$T/cp.txt\"",
    ] {
        assert!(
            script.contains(needle),
            "FORMAT.md's shell steps no longer run `{needle}`"
        );
    }

    for (i, id) in fx.records.iter().enumerate() {
        let o = fx.verify_sh(archive, id, &[]);
        assert!(
            o.status.success(),
            "FORMAT.md shell steps rejected {id}:\n{}",
            text(&o)
        );
        assert!(stdout(&o).contains(&format!("OK {id}:")), "{}", text(&o));
        assert_eq!(
            verified_count(&o),
            2,
            "manifest and checkpoint signatures:\n{}",
            text(&o)
        );
        assert!(
            // Leaf 0 is the archive's founding key record.
            stdout(&o).contains(&format!("log line {}", i + 1)),
            "{}",
            text(&o)
        );

        let o = fx.verify_py(archive, id, &[]);
        assert!(
            o.status.success(),
            "FORMAT.md verify.py rejected {id}:\n{}",
            text(&o)
        );
        assert!(stdout(&o).contains(&format!("OK {id}: ")), "{}", text(&o));
        let n = fx.records.len() + 1;
        assert!(
            stdout(&o).contains(&format!("leaf {} of {n} ", i + 1)),
            "{}",
            text(&o)
        );
    }
    let o = fx.python("hashes.py", &[archive]);
    assert!(
        o.status.success(),
        "FORMAT.md hashes.py failed:\n{}",
        text(&o)
    );

    // The same facts once more, with the literal commands and the values read from the files.
    let key_pem = fs::read_dir(archive.join("keys"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let key_id = key_pem.file_stem().unwrap().to_str().unwrap().to_string();
    let raw_key_id = bash_ok(&format!(
        "openssl pkey -pubin -in {} -outform DER | tail -c 32 | sha256sum | cut -c1-16",
        q(&key_pem)
    ));
    assert_eq!(
        raw_key_id, key_id,
        "key ID = first 16 hex of SHA-256 of the raw public key"
    );
    let stored_hashes = fs::read(archive.join("log/hashes")).unwrap();
    // Leaf 0 is the founding key record; the fixture's records follow it.
    for (i, id) in (1..).zip(fx.records.iter()) {
        let m = fx.manifest(id);
        let sha = m["document"]["sha256"].as_str().unwrap().to_string();
        let m_path = fx.manifest_path(archive, id);
        let blob = fx.blob_path(archive, &sha);
        assert_eq!(m["signer"], key_id.as_str());
        assert_eq!(m["log_index"], i as u64);
        let i: usize = i;

        let got = bash_ok(&format!("zstd -dc {} | sha256sum | cut -c1-64", q(&blob)));
        assert_eq!(
            got, sha,
            "zstd -dc BLOB | sha256sum must print the cited hash"
        );
        let size = bash_ok(&format!("zstd -dc {} | wc -c", q(&blob)));
        assert_eq!(
            size.parse::<u64>().unwrap(),
            m["document"]["size"].as_u64().unwrap()
        );

        let o = bash(&format!(
            "openssl pkeyutl -verify -pubin -inkey {} -rawin -in {} -sigfile {}",
            q(&key_pem),
            q(&m_path),
            q(&m_path.with_extension("sig"))
        ));
        assert!(
            o.status.success(),
            "openssl rejected the signature of {id}:\n{}",
            text(&o)
        );

        let head = bash_ok(&format!(
            "tail -c 48 {} | head -c 16 | od -An -tx1 | tr -s ' \\n' ' '",
            q(&blob)
        ));
        assert_eq!(
            head.trim(),
            "5e 2a 4d 18 28 00 00 00 45 58 48 42 4c 4f 42 31"
        );
        let body_hash = bash_ok(&format!(
            "head -c $(($(wc -c < {b}) - 48)) {b} | sha256sum | cut -c1-64",
            b = q(&blob)
        ));
        let trailer_hash = bash_ok(&format!(
            "tail -c 32 {} | od -An -tx1 | tr -d ' \\n'",
            q(&blob)
        ));
        assert_eq!(
            body_hash, trailer_hash,
            "the trailer holds the SHA-256 of the bytes before it"
        );

        // The leaf hash, as FORMAT.md computes it, is stored hash number 2i - popcount(i).
        let leaf = bash_ok(&format!(
            "printf '\\000' | cat - {} | sha256sum | cut -c1-64",
            q(&m_path)
        ));
        let pos = 2 * i - (i.count_ones() as usize);
        let stored: String = stored_hashes[32 * pos..32 * pos + 32]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(leaf, stored, "leaf {i} in log/hashes");

        // Section 5.1: one line of JSON and exactly one LF.
        let bytes = fs::read(&m_path).unwrap();
        assert!(bytes.ends_with(b"}\n") && bytes.iter().filter(|&&b| b == b'\n').count() == 1);
    }
    let n = fx.records.len() + 1;
    assert_eq!(fs::read(archive.join("log/leaves")).unwrap().len(), 83 * n);
    assert_eq!(stored_hashes.len(), 32 * (2 * n - n.count_ones() as usize));

    // Section 5: times in UTC with whole seconds; URLs normalized.
    assert_eq!(
        fx.manifest(&fx.records[1])["captured_at"],
        "2026-05-21T05:07:28Z"
    );
    assert_eq!(
        fx.manifest(&fx.records[0])["requested_url"],
        "https://example.org/terms?x=1"
    );
    // Section 4.2: one blob per distinct document.
    let (first, copy) = (fx.manifest(&fx.records[0]), fx.manifest(&fx.records[4]));
    assert_eq!(first["document"]["sha256"], copy["document"]["sha256"]);
    let blobs = bash_ok(&format!(
        "find {} -type f | wc -l",
        q(&archive.join("documents"))
    ));
    assert_eq!(
        blobs,
        (n - 1).to_string(),
        "{n} records (the founding key record's statement among them), {} distinct documents",
        n - 1
    );

    // Section 3.1: exhibit.json in canonical form; 9.5: the verifier key string.
    let cp = fs::read_to_string(archive.join("log/checkpoint")).unwrap();
    let origin = cp.lines().next().unwrap();
    assert_eq!(
        fs::read_to_string(archive.join("exhibit.json")).unwrap(),
        format!("{{\n  \"format\": \"exhibit-archive/1\",\n  \"origin\": \"{origin}\"\n}}\n")
    );
    let vkey = bash_ok(&format!(
        "R=$(mktemp); trap 'rm -f \"$R\"' EXIT\n\
         openssl pkey -pubin -in {k} -outform DER | tail -c 32 > \"$R\"\n\
         H=$({{ printf '%s\\n\\001' '{origin}'; cat \"$R\"; }} | sha256sum | cut -c1-8)\n\
         B=$(printf '\\001' | cat - \"$R\" | base64 | tr -d '\\n')\n\
         echo \"{origin}+$H+$B\"",
        k = q(&key_pem)
    ));
    let keys = fx.exhibit(&["keys", "--json"]);
    assert!(keys.status.success(), "{}", text(&keys));
    assert!(
        stdout(&keys).contains(&format!("\"verifier_key\":\"{vkey}\"")),
        "{vkey} vs\n{}",
        text(&keys)
    );

    // Section 8's worked example is a valid ID (not found here), its typo is refused as a typo.
    assert!(FORMAT_MD.contains("ID = EX-7K2M-9QDR-T4VW") && FORMAT_MD.contains("8552699085482139"));
    let o = fx.exhibit(&["verify", "EX-7K2M-9QDR-T4VW"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "a valid but unknown ID is `not found`:\n{}",
        text(&o)
    );
    let o = fx.exhibit(&["verify", "EX-7K2M-9QDR-T4VB"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a wrong check symbol is a usage error:\n{}",
        text(&o)
    );
}

#[test]
fn format_md_procedure_rejects_tampering() {
    require_tools();
    let fx = Fixture::build();
    let target = fx.records[0].clone();
    let m = fx.manifest(&target);
    let sha = m["document"]["sha256"].as_str().unwrap().to_string();

    // One byte of the manifest: the URL's first letter ("e" becomes "d"), so the JSON stays valid.
    let archive = fx.tampered("manifest", |a| {
        let path = fx.manifest_path(a, &target);
        let bytes = fs::read(&path).unwrap();
        let at = String::from_utf8_lossy(&bytes)
            .find("\"requested_url\":\"https://")
            .unwrap()
            + 25;
        assert_eq!(bytes[at], b'e');
        flip_byte(&path, at, 0x01);
    });
    let key_pem = fs::read_dir(archive.join("keys"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let m_path = fx.manifest_path(&archive, &target);
    let o = bash(&format!(
        "openssl pkeyutl -verify -pubin -inkey {} -rawin -in {} -sigfile {}",
        q(&key_pem),
        q(&m_path),
        q(&m_path.with_extension("sig"))
    ));
    assert_refused(
        &o,
        "openssl",
        "a changed manifest",
        "Signature Verification Failure",
    );
    let o = fx.verify_sh(&archive, &target, &[]);
    assert_refused(
        &o,
        "shell steps",
        "a changed manifest",
        "Signature Verification Failure",
    );
    let o = fx.verify_py(&archive, &target, &[]);
    assert_refused(&o, "verify.py", "a changed manifest", "InvalidSignature");

    // The trailer's last byte: zstd does not notice (it skips the frame), the trailer check does.
    let archive = fx.tampered("trailer", |a| {
        let blob = fx.blob_path(a, &sha);
        let len = fs::metadata(&blob).unwrap().len() as usize;
        flip_byte(&blob, len - 1, 0x80);
    });
    let blob = fx.blob_path(&archive, &sha);
    assert_eq!(
        bash_ok(&format!("zstd -dc {} | sha256sum | cut -c1-64", q(&blob))),
        sha
    );
    let o = fx.verify_sh(&archive, &target, &[]);
    assert!(
        !o.status.success(),
        "shell steps accepted a changed blob trailer:\n{}",
        text(&o)
    );
    assert_eq!(
        verified_count(&o),
        1,
        "it must fail after the signature check:\n{}",
        text(&o)
    );
    let o = fx.verify_py(&archive, &target, &[]);
    assert!(
        !o.status.success() && text(&o).contains("AssertionError"),
        "{}",
        text(&o)
    );

    // A byte inside the zstd frame: the document is damaged.
    let archive = fx.tampered("frame", |a| {
        let blob = fx.blob_path(a, &sha);
        let len = fs::metadata(&blob).unwrap().len() as usize;
        flip_byte(&blob, len - 48 - 6, 0x10);
    });
    let o = fx.verify_sh(&archive, &target, &[]);
    assert!(
        !o.status.success(),
        "shell steps accepted a damaged zstd frame:\n{}",
        text(&o)
    );
    assert!(!stdout(&o).contains("OK "), "{}", text(&o));
    let o = fx.verify_py(&archive, &target, &[]);
    assert!(
        !o.status.success(),
        "verify.py accepted a damaged zstd frame:\n{}",
        text(&o)
    );

    // The checkpoint's tree size: its signature no longer verifies.
    let archive = fx.tampered("checkpoint", |a| {
        let path = a.join("log/checkpoint");
        let cp = fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = cp.split('\n').collect();
        let smaller = (fx.records.len() - 1).to_string();
        lines[1] = &smaller;
        fs::write(&path, lines.join("\n")).unwrap();
    });
    let o = fx.verify_sh(&archive, &target, &[]);
    assert!(
        !o.status.success(),
        "shell steps accepted a changed checkpoint:\n{}",
        text(&o)
    );
    assert_eq!(
        verified_count(&o),
        1,
        "the manifest still verifies:\n{}",
        text(&o)
    );
    assert!(
        text(&o).contains("Signature Verification Failure"),
        "{}",
        text(&o)
    );
    let o = fx.verify_py(&archive, &target, &[]);
    assert!(
        !o.status.success() && text(&o).contains("InvalidSignature"),
        "{}",
        text(&o)
    );

    // Another record's manifest: ours still checks out in the shell (which does not prove
    // inclusion), but the tree no longer leads to the signed root.
    let archive = fx.tampered("other-record", |a| {
        let path = fx.manifest_path(a, &fx.records[2]);
        let bytes = fs::read(&path).unwrap();
        let at = String::from_utf8_lossy(&bytes)
            .find("\"requested_url\":\"https://")
            .unwrap()
            + 25;
        flip_byte(&path, at, 0x01);
    });
    let o = fx.verify_sh(&archive, &target, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = fx.verify_py(&archive, &target, &[]);
    assert!(
        !o.status.success(),
        "verify.py accepted a log with a changed leaf:\n{}",
        text(&o)
    );
    assert!(
        text(&o).contains("the inclusion proof does not lead to the signed root"),
        "{}",
        text(&o)
    );
    let o = fx.python("hashes.py", &[&archive]);
    assert!(
        !o.status.success(),
        "hashes.py accepted a log with a changed leaf:\n{}",
        text(&o)
    );

    // Two log lines swapped: the record is no longer where its manifest says.
    let archive = fx.tampered("leaves", |a| {
        let path = a.join("log/leaves");
        let mut bytes = fs::read(&path).unwrap();
        let (first, rest) = bytes.split_at_mut(83);
        first.swap_with_slice(&mut rest[..83]);
        fs::write(&path, bytes).unwrap();
    });
    let o = fx.verify_sh(&archive, &target, &[]);
    assert!(
        !o.status.success(),
        "shell steps accepted swapped log lines:\n{}",
        text(&o)
    );
    assert!(!stdout(&o).contains("OK "), "{}", text(&o));
    let o = fx.verify_py(&archive, &target, &[]);
    assert!(
        !o.status.success(),
        "verify.py accepted swapped log lines:\n{}",
        text(&o)
    );

    // A key the verifier trusts that is not the signer's.
    let other = fx.dir.path().join("other.pem");
    bash_ok(&format!(
        "openssl genpkey -algorithm ed25519 | openssl pkey -pubout -out {}",
        q(&other)
    ));
    let o = fx.verify_sh(&fx.archive, &target, &[("KEY", &other)]);
    assert!(
        !o.status.success(),
        "shell steps accepted the wrong key:\n{}",
        text(&o)
    );
    assert_eq!(verified_count(&o), 0, "{}", text(&o));
    let o = fx.verify_py(&fx.archive, &target, &[&other]);
    assert!(
        !o.status.success(),
        "verify.py accepted the wrong key:\n{}",
        text(&o)
    );
    assert!(text(&o).contains("not a key that counts"), "{}", text(&o));
    // ... while pinning the right key works.
    let own = fx
        .archive
        .join("keys")
        .join(format!("{}.pem", m["signer"].as_str().unwrap()));
    let o = fx.verify_sh(&fx.archive, &target, &[("KEY", &own)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = fx.verify_py(&fx.archive, &target, &[&own]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A signature line of the checkpoint text `cp_txt` under `name`, made by `openssl` with the
/// secret key `key_pem` (PKCS#8), whose key hash is computed as section 9.5 says.
fn openssl_sig_line(cp_txt: &Path, name: &str, key_pem: &Path) -> String {
    bash_ok(&format!(
        "T=$(mktemp -d); trap 'rm -rf \"$T\"' EXIT\n\
         openssl pkey -in {k} -pubout -outform DER | tail -c 32 > \"$T/raw\"\n\
         H=$({{ printf '%s\\n\\001' '{name}'; cat \"$T/raw\"; }} | sha256sum | cut -c1-8)\n\
         printf \"$(echo \"$H\" | sed 's/../\\\\x&/g')\" > \"$T/line\"\n\
         openssl pkeyutl -sign -inkey {k} -rawin -in {t} >> \"$T/line\"\n\
         printf '— %s %s\\n' '{name}' \"$(base64 -w0 < \"$T/line\")\"",
        k = q(key_pem),
        t = q(cp_txt),
    ))
}

/// The canonical base64 text with one padding bit set: the same bytes to a lenient decoder.
fn set_padding_bit(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let at = text.find('=').expect("padded base64") - 1;
    let mut bytes = text.as_bytes().to_vec();
    let pos = ALPHABET.iter().position(|&c| c == bytes[at]).unwrap();
    bytes[at] = ALPHABET[pos | 1];
    assert_ne!(
        bytes,
        text.as_bytes(),
        "{text} had a padding bit set already"
    );
    String::from_utf8(bytes).unwrap()
}

/// Section 9.5 and step 7 of section 12: a checkpoint may carry several signature lines (a
/// second archive key, a witness cosignature). The shell steps check each line by itself, so a
/// genuine checkpoint with two lines under the origin's name passes (the old procedure joined
/// every such line into one base64 text and failed), while a forged line by a trusted key's
/// hash, or a malformed line, fails, for the shell, verify.py and exhibit alike.
#[test]
fn format_md_procedure_checks_each_signature_line() {
    require_tools();
    let fx = Fixture::build();
    let target = fx.records[3].clone();
    // A second archive key, made by openssl, and added to the archive by a key record signed
    // by the archive's key (`exhibit keys add`), as a rotation would; a third key nobody added.
    let openssl_key = |name: &str| {
        let secret = fx.dir.path().join(format!("{name}.key"));
        bash_ok(&format!(
            "openssl genpkey -algorithm ed25519 -out {}",
            q(&secret)
        ));
        let public = fx.dir.path().join(format!("{name}.pem"));
        bash_ok(&format!(
            "openssl pkey -in {} -pubout -out {}",
            q(&secret),
            q(&public)
        ));
        (secret, public)
    };
    let (k2, k2_pub) = openssl_key("second");
    let (k3, _) = openssl_key("third");
    let o = fx.exhibit(&["keys", "add", k2_pub.to_str().unwrap()]);
    assert!(o.status.success(), "keys add:\n{}", text(&o));

    let cp_path = fx.archive.join("log/checkpoint");
    let cp = fs::read_to_string(&cp_path).unwrap();
    let origin = cp.lines().next().unwrap().to_string();
    let cp_txt = fx.dir.path().join("cp.txt");
    fs::write(&cp_txt, &cp[..cp.find("\n\n").unwrap() + 1]).unwrap();
    let own_line = cp[cp.find("\n\n").unwrap() + 2..].to_string();
    let second = openssl_sig_line(&cp_txt, &origin, &k2);
    let third = openssl_sig_line(&cp_txt, &origin, &k3);
    // A witness cosignature: another name, a payload of another length (timestamp + signature).
    let witness = format!(
        "— witness.example/w1 {}",
        bash_ok("head -c 76 /dev/urandom | base64 -w0")
    );
    let with_lines = |name: &str, lines: &[&str]| {
        fx.tampered(name, |a| {
            let mut text = cp.clone();
            for l in lines {
                text.push_str(l.trim_end_matches('\n'));
                text.push('\n');
            }
            fs::write(a.join("log/checkpoint"), text).unwrap();
        })
    };
    let exhibit_audit =
        |archive: &Path| fx.exhibit(&["--archive", archive.to_str().unwrap(), "audit"]);

    // Genuine: signed by both archive keys, plus a witness line.
    let genuine = with_lines("two-keys", &[&second, &witness]);
    let cp_now = fs::read_to_string(genuine.join("log/checkpoint")).unwrap();
    assert_eq!(
        cp_now
            .lines()
            .filter(|l| l.starts_with(&format!("— {origin} ")))
            .count(),
        2,
        "{cp_now}"
    );
    let o = fx.verify_sh(&genuine, &target, &[]);
    assert!(
        o.status.success(),
        "shell steps rejected a checkpoint signed by two archive keys:\n{}",
        text(&o)
    );
    // The manifest's signature, then both archive keys' lines.
    assert_eq!(verified_count(&o), 3, "{}", text(&o));
    let o = fx.verify_py(&genuine, &target, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = exhibit_audit(&genuine);
    assert!(o.status.success(), "exhibit audit:\n{}", text(&o));

    // A line by a key nobody added, under the archive's name: ignored by every reader.
    let unknown = with_lines("unknown-key", &[&third]);
    assert!(fx.verify_sh(&unknown, &target, &[]).status.success());
    assert!(fx.verify_py(&unknown, &target, &[]).status.success());
    assert!(exhibit_audit(&unknown).status.success());

    // Forged: a line under the origin's name with the archive key's own key hash but another
    // key's signature. It matches the trusted key, so it must verify, and it does not, even
    // though the genuine line next to it does.
    let own_hash = &bash_ok(&format!(
        "printf '%s' '{}' | base64 -d | head -c 4 | base64 -w0",
        own_line.trim_end().rsplit(' ').next().unwrap()
    ));
    let forged = bash_ok(&format!(
        "{{ printf '%s' '{own_hash}' | base64 -d; printf '%s' '{}' | base64 -d | tail -c 64; }} | base64 -w0",
        second.trim_end().rsplit(' ').next().unwrap()
    ));
    let forged_line = format!("— {origin} {forged}");
    let forged_archive = with_lines("forged-line", &[&forged_line]);
    let o = fx.verify_sh(&forged_archive, &target, &[]);
    assert_refused(
        &o,
        "shell steps",
        "a forged second signature line",
        "Signature Verification Failure",
    );
    assert!(!stdout(&o).contains("OK "), "{}", text(&o));
    let o = fx.verify_py(&forged_archive, &target, &[]);
    assert_refused(
        &o,
        "verify.py",
        "a forged second signature line",
        "InvalidSignature",
    );
    let o = exhibit_audit(&forged_archive);
    assert_refused(
        &o,
        "exhibit audit",
        "a forged second signature line",
        "invalid signature",
    );

    // Malformed: the witness line with a padding bit set in its base64 (the same bytes to a
    // lenient decoder). A checkpoint has one byte form: every reader refuses it.
    let loose = format!(
        "— witness.example/w1 {}",
        set_padding_bit(&bash_ok("head -c 76 /dev/urandom | base64 -w0"))
    );
    let malformed = with_lines("loose-base64", &[&loose]);
    let o = fx.verify_sh(&malformed, &target, &[]);
    assert!(
        !o.status.success(),
        "shell steps accepted non-canonical base64:\n{}",
        text(&o)
    );
    assert!(!stdout(&o).contains("OK "), "{}", text(&o));
    let o = fx.verify_py(&malformed, &target, &[]);
    assert_refused(
        &o,
        "verify.py",
        "non-canonical base64",
        "not canonical base64",
    );
    let o = exhibit_audit(&malformed);
    assert_refused(&o, "exhibit audit", "non-canonical base64", "canonical");
}

/// Section 9.4's worked example, on the fixture's 5-record log: the inclusion proof of leaf 2
/// that `exhibit prove` prints is the stored hashes at positions 4, 2 and 7, in that order.
#[test]
fn format_md_worked_proof_example_matches_log_hashes() {
    // A log of exactly five records, as in the example: the founding key record, then four.
    let env = common::Env::new();
    let mut records = Vec::new();
    for i in 0..4 {
        let f = env.dir.path().join(format!("doc{i}.txt"));
        fs::write(&f, format!("document {i}")).unwrap();
        let out = env.ok(&[
            "import",
            f.to_str().unwrap(),
            "--url",
            &format!("https://example.org/{i}"),
        ]);
        records.push(out.split("  ").next().unwrap().to_string());
    }
    assert!(
        FORMAT_MD.contains("0         [3, 4)   (0, 3)"),
        "the example is in FORMAT.md"
    );
    let out = env.ok(&["prove", &records[1], "--json"]);
    let proof: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(proof["leaf_index"], 2, "{proof:#}");
    let stored = fs::read(env.archive.join("log/hashes")).unwrap();
    assert_eq!(stored.len(), 8 * 32);
    let at = |pos: usize| -> String {
        stored[32 * pos..32 * pos + 32]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(
        proof["audit_path"],
        serde_json::json!([at(4), at(2), at(7)]),
        "{proof:#}"
    );
}

/// Section 4.2: a blob whose trailer was recomputed over a smuggled skippable frame. verify.py
/// checks the layout and refuses it, as exhibit does; the shell steps check the trailer and the
/// document only (FORMAT.md says so), so they pass.
#[test]
fn format_md_blob_layout_check_refuses_smuggled_bytes() {
    require_tools();
    let fx = Fixture::build();
    let target = fx.records[0].clone();
    let sha = fx.manifest(&target)["document"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let archive = fx.tampered("smuggled", |a| {
        let blob = fx.blob_path(a, &sha);
        let bytes = fs::read(&blob).unwrap();
        let mut body = bytes[..bytes.len() - 48].to_vec();
        body.extend_from_slice(&[0x50, 0x2A, 0x4D, 0x18]);
        body.extend_from_slice(&4096u32.to_le_bytes());
        body.extend(std::iter::repeat_n(b'S', 4096));
        let mut file = body.clone();
        file.extend_from_slice(&bytes[bytes.len() - 48..bytes.len() - 32]);
        use sha2::Digest;
        file.extend_from_slice(&sha2::Sha256::digest(&body));
        fs::write(&blob, file).unwrap();
    });
    let o = fx.verify_sh(&archive, &target, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = fx.verify_py(&archive, &target, &[]);
    assert_refused(
        &o,
        "verify.py",
        "a blob with a smuggled skippable frame",
        "the blob holds more than its zstd frame and the trailer",
    );
    let o = fx.exhibit(&["--archive", archive.to_str().unwrap(), "verify", &target]);
    assert_refused(
        &o,
        "exhibit verify",
        "a blob with a smuggled skippable frame",
        "a skippable frame besides the exhibit trailer",
    );
}

/// Section 12 after key changes, run literally: a rotation (the old key adds the new one and
/// retires itself), then a compromise. The shell steps and verify.py follow the key records from
/// the founding key or from a pinned key, as exhibit does; a log/keys edited to hide a key
/// record, or a record of a key compromised before it signed, fails both.
#[test]
fn format_md_procedure_follows_rotation_and_compromise() {
    require_tools();
    let fx = Fixture::build();
    let old_pub = fx.dir.path().join("old.pem");
    fs::copy(format!("{}.pub", fx.key.display()), &old_pub).unwrap();
    let before = fx.records[0].clone();
    let o = fx.exhibit(&["keys", "rotate", "--reason", "yearly"]);
    assert!(o.status.success(), "keys rotate:\n{}", text(&o));
    let new_pub = PathBuf::from(format!("{}.pub", fx.key.display()));
    let f = fx.dir.path().join("after.txt");
    fs::write(&f, b"signed by the new key\n").unwrap();
    let o = fx.exhibit(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/after",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let after = stdout(&o).split_whitespace().next().unwrap().to_string();

    // Self-consistent (from the founding key), pinned to the old key, pinned to the new one.
    for id in [&before, &after] {
        let o = fx.verify_sh(&fx.archive, id, &[]);
        assert!(o.status.success(), "shell, {id}:\n{}", text(&o));
        assert!(stdout(&o).contains("3 key records applied"), "{}", text(&o));
        let o = fx.verify_py(&fx.archive, id, &[]);
        assert!(o.status.success(), "verify.py, {id}:\n{}", text(&o));
        let o = fx.verify_sh(&fx.archive, id, &[("KEY", &old_pub)]);
        assert!(
            o.status.success(),
            "shell pinned to the old key, {id}:\n{}",
            text(&o)
        );
        let o = fx.verify_py(&fx.archive, id, &[&old_pub]);
        assert!(
            o.status.success(),
            "verify.py pinned to the old key, {id}:\n{}",
            text(&o)
        );
    }
    // Pinned to the new key alone, the old key's records cannot be followed to it.
    let o = fx.verify_sh(&fx.archive, &after, &[("KEY", &new_pub)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = fx.verify_sh(&fx.archive, &before, &[("KEY", &new_pub)]);
    assert_refused(&o, "shell steps", "an unpinned signer", "does not count");
    let o = fx.verify_py(&fx.archive, &before, &[&new_pub]);
    assert_refused(
        &o,
        "verify.py",
        "an unpinned signer",
        "not a key that counts",
    );

    // log/keys without its last line (the retirement): the checkpoint's commitment fails.
    let edited = fx.tampered("log-keys", |a| {
        let path = a.join("log/keys");
        let text = fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.pop();
        fs::write(
            &path,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    });
    let o = fx.verify_sh(&edited, &after, &[]);
    assert_refused(
        &o,
        "shell steps",
        "an edited log/keys",
        "does not commit to log/keys",
    );
    let o = fx.verify_py(&edited, &after, &[]);
    assert_refused(&o, "verify.py", "an edited log/keys", "log/keys");

    // The new key compromised since a record it signed: a third key, added by the new key,
    // says so. That record fails; what the new key signed before it, and the third key's own
    // addition, still verify.
    let third = fx.dir.path().join("third.key");
    let o = fx.exhibit(&["--key", third.to_str().unwrap(), "keygen"]);
    assert!(o.status.success(), "keygen:\n{}", text(&o));
    let o = fx.exhibit(&["keys", "add", &format!("{}.pub", third.display())]);
    assert!(o.status.success(), "keys add:\n{}", text(&o));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let o = fx.exhibit(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/stolen",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let stolen = stdout(&o).split_whitespace().next().unwrap().to_string();
    let since = fx.manifest(&stolen)["signed_at"]
        .as_str()
        .unwrap()
        .to_string();
    let new_id = bash_ok(&format!(
        "openssl pkey -pubin -in {} -outform DER | tail -c 32 | sha256sum | cut -c1-16",
        q(&new_pub)
    ));
    let o = fx.exhibit(&[
        "--key",
        third.to_str().unwrap(),
        "keys",
        "compromised",
        &new_id,
        "--since",
        &since,
        "--reason",
        "laptop stolen",
    ]);
    assert!(o.status.success(), "keys compromised:\n{}", text(&o));
    let o = fx.verify_sh(&fx.archive, &stolen, &[]);
    assert_refused(&o, "shell steps", "a compromised signer", "does not count");
    let o = fx.verify_py(&fx.archive, &stolen, &[]);
    assert_refused(
        &o,
        "verify.py",
        "a compromised signer",
        "rejects this record",
    );
    let o = fx.exhibit(&["verify", &stolen]);
    assert!(!o.status.success(), "{}", text(&o));
    for id in [&before, &after] {
        let o = fx.verify_sh(&fx.archive, id, &[]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(stdout(&o).contains("5 key records applied"), "{}", text(&o));
        let o = fx.verify_py(&fx.archive, id, &[]);
        assert!(o.status.success(), "{}", text(&o));
        let o = fx.exhibit(&["verify", id]);
        assert!(o.status.success(), "{}", text(&o));
    }
}

/// An archive written before key records could add keys (its roots are its keys/ files, its
/// retirement statement is exhibit-key-status/1, its checkpoint has no key-record line), as an
/// exhibit of that time made it: it keeps verifying with exhibit, the shell steps and verify.py,
/// from its own keys or pinned to its first key, whose retirement is followed.
#[test]
fn format_md_procedure_verifies_an_archive_from_before_key_additions() {
    require_tools();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/archive-v1-retired");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    copy_dir(&src.join("archive"), &archive);
    // Git keeps no empty directories; the archive's scratch directory is one.
    fs::create_dir_all(archive.join("tmp")).unwrap();
    let fx = Fixture {
        archive: archive.clone(),
        key: dir.path().join("no.key"),
        records: fs::read_to_string(src.join("records.txt"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect(),
        dir,
    };
    let first = src.join("first.pem");
    assert_eq!(fx.records.len(), 2);
    for id in &fx.records {
        let o = fx.verify_sh(&archive, id, &[]);
        assert!(o.status.success(), "shell, {id}:\n{}", text(&o));
        assert!(stdout(&o).contains("1 key records applied"), "{}", text(&o));
        let o = fx.verify_py(&archive, id, &[]);
        assert!(o.status.success(), "verify.py, {id}:\n{}", text(&o));
        let o = fx.exhibit(&["verify", id]);
        assert!(o.status.success(), "exhibit verify, {id}:\n{}", text(&o));
    }
    // Pinned to the first key alone, nothing verifies: the first key never added the second
    // (a keys/ file trusted it then), and the second signed the checkpoint. Pinned to both,
    // everything does.
    let o = fx.verify_sh(&archive, &fx.records[0], &[("KEY", &first)]);
    assert_refused(
        &o,
        "shell steps",
        "an unpinned checkpoint key",
        "no signature on the checkpoint",
    );
    let o = fx.verify_py(&archive, &fx.records[0], &[&first]);
    assert_refused(
        &o,
        "verify.py",
        "an unpinned checkpoint key",
        "no signature by a key that counts",
    );
    let second = archive.join("keys/fd335a6d898dbdb4.pem");
    // Pinned to the second key alone, its own record verifies everywhere: the first key's
    // retirement, about a key that does not count then, is passed over as exhibit does.
    let o = fx.verify_sh(&archive, &fx.records[1], &[("KEY", &second)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = fx.verify_py(&archive, &fx.records[1], &[&second]);
    assert!(o.status.success(), "{}", text(&o));
    let o = fx.exhibit(&[
        "verify",
        &fx.records[1],
        "--trusted-key",
        second.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let both = format!("{} {}", first.display(), second.display());
    for id in &fx.records {
        let o = fx.verify_sh(&archive, id, &[("KEY", Path::new(&both))]);
        assert!(
            o.status.success(),
            "shell pinned to both, {id}:\n{}",
            text(&o)
        );
        let o = fx.verify_py(&archive, id, &[&first, &second]);
        assert!(
            o.status.success(),
            "verify.py pinned to both, {id}:\n{}",
            text(&o)
        );
    }
    let o = fx.exhibit(&["audit"]);
    assert!(o.status.success(), "exhibit audit:\n{}", text(&o));
}

/// FORMAT.md 5.10: every part of a browser capture checked with bash, `zstd`, `sha256sum` and
/// Python's standard library, by the procedure printed between the `browser-parts.sh` markers;
/// a flipped byte in one part's blob makes it fail naming that part. Needs Chromium, like
/// tests/browser_capture.rs; skipped loudly with EXHIBIT_SKIP_BROWSER=1.
#[test]
fn format_md_browser_parts_procedure_checks_every_part() {
    if std::env::var_os("EXHIBIT_SKIP_BROWSER").is_some_and(|v| v == "1") {
        use std::io::Write;
        let _ = std::io::stderr()
            .write_all(b"\n!!! SKIPPED: EXHIBIT_SKIP_BROWSER=1, browser parts NOT checked !!!\n\n");
        return;
    }
    let script = fenced("browser-parts.sh", "sh");
    let server = TestServer::start(vec![
        (
            "/",
            Route::html(
                "<!DOCTYPE html><title>Parts</title><link rel=stylesheet href=/p.css>\
                 <img src=/none.png><p>parts",
            ),
        ),
        (
            "/p.css",
            Route::Ok {
                content_type: "text/css",
                body: b"p { color: rgb(9, 9, 9); }".to_vec(),
            },
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let run = |args: &[&str]| {
        let o = Command::new(exhibit_bin())
            .args(args)
            .env("EXHIBIT_ARCHIVE", &archive)
            .env("EXHIBIT_KEY", dir.path().join("signing.key"))
            .env("EXHIBIT_ALLOW_PRIVATE", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "exhibit {args:?}: {}", text(&o));
        stdout(&o)
    };
    // The procedure reads the loose layout's files; a packed archive is unpacked to them first
    // (section 3.3), which the end of this test does.
    run(&["init", "--layout", "loose"]);
    let line = run(&["capture", "--browser", &server.url("/")]);
    let id = line.split_whitespace().next().unwrap().to_string();
    let manifest = archive
        .join("records")
        .join(&id[3..5])
        .join(format!("{id}.json"));
    let check = || {
        Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("ARCHIVE", &archive)
            .env("MANIFEST", &manifest)
            .output()
            .unwrap()
    };
    let o = check();
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout(&o);
    for name in [
        "screenshot",
        "pdf",
        "dom",
        &server.url("/p.css"),
        &server.url("/"),
    ] {
        assert!(out.contains(&format!("ok {name}\n")), "{name}: {out}");
    }
    assert!(!out.contains("FAILED"), "{out}");

    // The same record in a packed archive: unpack.sh writes it and every part as loose files,
    // and the procedure accepts them.
    let packed = dir.path().join("packed");
    let o = Command::new(exhibit_bin())
        .args(["migrate"])
        .arg(&packed)
        .env("EXHIBIT_ARCHIVE", &archive)
        .env("EXHIBIT_KEY", dir.path().join("signing.key"))
        .output()
        .unwrap();
    assert!(o.status.success(), "migrate: {}", text(&o));
    let unpacked = dir.path().join("unpacked");
    let o = Command::new("bash")
        .arg("-c")
        .arg(fenced("unpack.sh", "bash"))
        .env("ARCHIVE", &packed)
        .env("RECORD", &id)
        .env("OUT", &unpacked)
        .output()
        .unwrap();
    assert!(o.status.success(), "unpack.sh: {}", text(&o));
    let o = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("ARCHIVE", &unpacked)
        .env(
            "MANIFEST",
            unpacked
                .join("records")
                .join(&id[3..5])
                .join(format!("{id}.json")),
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("ok screenshot\n") && !stdout(&o).contains("FAILED"),
        "{}",
        text(&o)
    );

    // One flipped byte in the compressed frame of the stylesheet's blob (not in its trailer,
    // which section 12 checks and `zstd -dc` skips).
    let css_sha = common::sha256_hex(b"p { color: rgb(9, 9, 9); }");
    let blob = archive
        .join("documents")
        .join(&css_sha[..2])
        .join(format!("{css_sha}.zst"));
    let mut bytes = fs::read(&blob).unwrap();
    bytes[12] ^= 0x01;
    fs::write(&blob, &bytes).unwrap();
    let o = check();
    assert!(!o.status.success(), "a flipped byte passed: {}", text(&o));
    assert!(
        stdout(&o).contains(&format!("FAILED {}", server.url("/p.css"))),
        "{}",
        text(&o)
    );
}

/// FORMAT.md 5.10's `browser-parts.sh` on odd manifests, without Chromium: a `browser` member
/// written by hand, over blobs made with zstd. The procedure reads the manifest's bytes, so it
/// does not depend on the locale or on text mode, and any manifest it cannot read, or whose
/// parts it cannot all list, fails the check: before, a URL Python could not print (a lone
/// surrogate escape) ended the listing early and the parts after it went unchecked, a manifest
/// that is not UTF-8 listed nothing, and either way the script exited 0.
#[test]
fn format_md_browser_parts_procedure_is_byte_exact_on_odd_manifests() {
    require_tools();
    let script = fenced("browser-parts.sh", "sh");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let blob = |bytes: &[u8]| {
        let sha = common::sha256_hex(bytes);
        let path = archive
            .join("documents")
            .join(&sha[..2])
            .join(format!("{sha}.zst"));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, zstd::encode_all(bytes, 3).unwrap()).unwrap();
        (sha, bytes.len(), path)
    };
    let parts: Vec<_> = [
        b"png".as_slice(),
        b"pdf",
        b"<html>dom</html>",
        b"<html>page</html>",
        b"p { color: red }",
    ]
    .into_iter()
    .map(blob)
    .collect();
    let attachment = |i: usize, role: &str| {
        format!(
            r#"{{"role":"{role}","media_type":"x/y","sha256":"{}","size":{}}}"#,
            parts[i].0, parts[i].1
        )
    };
    let exchange = |i: usize, url: &str| {
        format!(
            r#"{{"url":"{url}","response":{{"status":200,"headers":[],"body":{{"sha256":"{}","size":{}}}}}}}"#,
            parts[i].0, parts[i].1
        )
    };
    // The first exchange's URL as JSON text, spliced in as is.
    let manifest = |first_url: &str| {
        format!(
            r#"{{"format":"exhibit-manifest/5","browser":{{"attachments":[{},{},{}],"exchanges":[{},{}]}}}}"#,
            attachment(0, "screenshot"),
            attachment(1, "pdf"),
            attachment(2, "dom"),
            exchange(3, first_url),
            exchange(4, "https://example.org/p.css"),
        )
        .into_bytes()
    };
    let run = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        let mut b = bytes.to_vec();
        b.push(b'\n');
        fs::write(&path, b).unwrap();
        Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("ARCHIVE", &archive)
            .env("MANIFEST", &path)
            .env("LC_ALL", "C")
            .output()
            .unwrap()
    };
    // Plain, and with a URL holding a line break, an escape and text that is not ASCII: every
    // part is checked, and each name is shown on one line, escaped.
    let o = run("plain.json", &manifest("https://example.org/"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        stdout(&o).lines().filter(|l| l.starts_with("ok ")).count(),
        5
    );
    let o = run(
        "odd-url.json",
        &manifest(r"https://example.org/a\nb\u001b[31m\u00e9\u2028"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout(&o);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok ")).count(),
        5,
        "{out}"
    );
    assert!(
        out.contains(r"ok https://example.org/a\nb\u001b[31m\u00e9\u2028"),
        "{out}"
    );
    // The stylesheet's blob damaged: found whatever the first URL holds.
    let css = &parts[4].2;
    fs::write(css, zstd::encode_all(&b"p { color: blue }"[..], 3).unwrap()).unwrap();
    for (name, first_url) in [
        ("plain-damaged.json", "https://example.org/"),
        ("surrogate.json", r"https://example.org/\ud800"),
    ] {
        let o = run(name, &manifest(first_url));
        assert!(
            !o.status.success(),
            "{name}: a damaged part passed: {}",
            text(&o)
        );
        assert!(
            stdout(&o).contains("FAILED https://example.org/p.css"),
            "{name}: {}",
            text(&o)
        );
    }
    // Not UTF-8, or a part without a SHA-256: the check fails, it does not pass by silence.
    let mut not_utf8 = manifest("https://example.org/");
    let at = not_utf8.windows(4).position(|w| w == b"pdf\"").unwrap();
    not_utf8[at] = 0xff;
    let mut no_sha = String::from_utf8(manifest("https://example.org/")).unwrap();
    no_sha = no_sha.replacen(&parts[1].0, "../../../../etc/passwd", 1);
    for (name, bytes) in [
        ("not-utf8.json", not_utf8),
        ("no-sha.json", no_sha.into_bytes()),
    ] {
        let o = run(name, &bytes);
        assert!(!o.status.success(), "{name} passed: {}", text(&o));
        assert!(stdout(&o).contains("FAILED"), "{name}: {}", text(&o));
    }
}

/// Section 3.3 followed literally: the fixture's archive migrated to the packed layout (and a
/// record committed into it afterwards, with the ID of its position), each record cut out of
/// its pack by `unpack.sh` into the loose files of section 3, and then accepted by section 12's
/// shell steps and verify.py: the unpacked files are the loose archive's bytes. A changed byte
/// in a pack stops `unpack.sh` (the pack is no longer its name) and fails the record's check.
#[test]
fn format_md_packed_records_unpack_and_verify_with_outside_tools() {
    require_tools();
    let fx = Fixture::build();
    let (packed, after) = packed_copy(&fx);

    let unpack = |archive: &Path, id: &str, out: &Path| {
        Command::new("bash")
            .arg("-c")
            .arg(fenced("unpack.sh", "bash"))
            .env("ARCHIVE", archive)
            .env("RECORD", id)
            .env("OUT", out)
            .output()
            .expect("run bash")
    };
    let mut all = fx.records.clone();
    all.push(after.clone());
    for (i, id) in all.iter().enumerate() {
        let out = fx.dir.path().join(format!("unpacked-{i}"));
        let o = unpack(&packed, id, &out);
        assert!(
            o.status.success() && stdout(&o).contains("UNPACKED"),
            "unpack.sh failed for {id}:\n{}",
            text(&o)
        );
        if *id != after {
            assert_eq!(
                fs::read(fx.manifest_path(&out, id)).unwrap(),
                fs::read(fx.manifest_path(&fx.archive, id)).unwrap(),
                "{id}: the unpacked manifest is not the loose archive's"
            );
        }
        let o = fx.verify_sh(&out, id, &[]);
        assert!(
            o.status.success() && stdout(&o).contains(&format!("OK {id}:")),
            "section 12 rejected the unpacked {id}:\n{}",
            text(&o)
        );
    }
    // verify.py reads every manifest of the log: RECORD=all unpacks them all.
    let out = fx.dir.path().join("unpacked-all");
    let o = unpack(&packed, "all", &out);
    assert!(o.status.success(), "unpack.sh all:\n{}", text(&o));
    for id in &all {
        let o = fx.verify_py(&out, id, &[]);
        assert!(
            o.status.success() && stdout(&o).contains(&format!("OK {id}: ")),
            "verify.py rejected the unpacked {id}:\n{}",
            text(&o)
        );
    }

    // One byte of the last record's manifest changed inside its pack.
    let forged = fx.dir.path().join("packed-forged");
    copy_dir(&packed, &forged);
    let manifest = fs::read(fx.manifest_path(
        &fx.dir.path().join(format!("unpacked-{}", all.len() - 1)),
        &after,
    ))
    .unwrap();
    let pack = fs::read_dir(forged.join("packs"))
        .unwrap()
        .flat_map(|d| fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| {
            fs::read(p)
                .unwrap()
                .windows(manifest.len())
                .any(|w| w == manifest)
        })
        .expect("the pack holding the manifest");
    let at = fs::read(&pack)
        .unwrap()
        .windows(manifest.len())
        .position(|w| w == manifest)
        .unwrap();
    flip_byte(&pack, at + 40, 0x01);
    let o = unpack(&forged, &after, &fx.dir.path().join("unpacked-forged"));
    assert!(
        !o.status.success(),
        "unpack.sh accepted a changed pack:\n{}",
        text(&o)
    );
    let o = fx.exhibit(&["--archive", forged.to_str().unwrap(), "verify", &after]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// The fixture's archive migrated to the packed layout, with one record committed into it
/// afterwards (an ID of its position): the packed archive and that record.
fn packed_copy(fx: &Fixture) -> (PathBuf, String) {
    let packed = fx.dir.path().join("packed");
    let o = fx.exhibit(&["migrate", packed.to_str().unwrap()]);
    assert!(o.status.success(), "exhibit migrate failed:\n{}", text(&o));
    let doc = fx.dir.path().join("after.txt");
    fs::write(&doc, "committed into the packed archive\n").unwrap();
    let o = fx.exhibit(&[
        "--archive",
        packed.to_str().unwrap(),
        "import",
        doc.to_str().unwrap(),
        "--url",
        "https://example.org/after",
    ]);
    assert!(o.status.success(), "import failed:\n{}", text(&o));
    let after = stdout(&o).split_whitespace().next().unwrap().to_string();
    (packed, after)
}

/// Section 3.3's `unpack.sh`, run by bash exactly as printed.
fn unpack_sh(archive: &Path, record: &str, out: &Path) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(fenced("unpack.sh", "bash"))
        .env("ARCHIVE", archive)
        .env("RECORD", record)
        .env("OUT", out)
        .output()
        .expect("run bash")
}

/// Section 12's opening commands for a packed archive, run exactly as printed: in a directory
/// holding `unpack.sh`, `verify.sh` and `verify.py` saved from FORMAT.md, as it says.
#[test]
fn format_md_section_12_verifies_a_packed_archive_by_unpacking_it_first() {
    require_tools();
    let fx = Fixture::build();
    let (packed, after) = packed_copy(&fx);
    let json = fs::read_to_string(packed.join("exhibit.json")).unwrap();
    assert!(json.contains("\"format\": \"exhibit-archive/2\""), "{json}");
    let work = fx.dir.path().join("section-12");
    fs::create_dir_all(&work).unwrap();
    fs::write(work.join("unpack.sh"), fenced("unpack.sh", "bash")).unwrap();
    fs::write(work.join("verify.sh"), fenced("verify.sh", "bash")).unwrap();
    fs::write(work.join("verify.py"), fenced("verify.py", "python")).unwrap();
    let run_with = |archive: &Path, record: &str, key: Option<&Path>| {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(fenced("packed.sh", "bash"))
            .current_dir(&work)
            .env_remove("KEY")
            .env_remove("CPKEY")
            .env("TMPDIR", &work)
            .env("ARCHIVE", archive)
            .env("RECORD", record);
        if let Some(key) = key {
            cmd.env("KEY", key);
        }
        cmd.output().expect("run bash")
    };
    let run = |archive: &Path, record: &str| run_with(archive, record, None);
    // The steps alone fail on a packed archive, as section 12 warns.
    let o = fx.verify_sh(&packed, &after, &[]);
    assert!(
        !o.status.success(),
        "verify.sh ran on a packed archive:\n{}",
        text(&o)
    );
    assert!(text(&o).contains("records/"), "{}", text(&o));
    let mut all = fx.records.clone();
    all.push(after.clone());
    for id in &all {
        let o = run(&packed, id);
        let out = stdout(&o);
        assert!(
            o.status.success()
                && out.matches("UNPACKED").count() == 2
                && out.contains(&format!("OK {id}: signature, document")),
            "section 12's sequence for a packed archive failed for {id}:\n{}",
            text(&o)
        );
        assert_eq!(
            out.lines()
                .filter(|l| l.starts_with(&format!("OK {id}:")))
                .count(),
            2,
            "both verify.sh and verify.py must pass:\n{out}"
        );
    }
    // With the key you trust: the archive's own key passes it to both, another key fails both.
    let own = fs::read_dir(packed.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "pem"))
        .expect("the archive's key file");
    let o = run_with(&packed, &after, Some(&own));
    assert_eq!(
        stdout(&o)
            .lines()
            .filter(|l| l.starts_with(&format!("OK {after}:")))
            .count(),
        2,
        "the sequence with KEY set:\n{}",
        text(&o)
    );
    let other = fx.dir.path().join("other-key.pem");
    bash_ok(&format!(
        "openssl genpkey -algorithm ed25519 | openssl pkey -pubout -out {}",
        q(&other)
    ));
    let o = run_with(&packed, &after, Some(&other));
    assert!(
        !o.status.success(),
        "the sequence accepted another key:\n{}",
        text(&o)
    );
    assert!(!stdout(&o).contains("OK"), "{}", text(&o));
    // A changed byte in a pack stops the sequence.
    let forged = fx.dir.path().join("packed-forged-12");
    copy_dir(&packed, &forged);
    let place = fs::read_to_string(forged.join("log").join("places")).unwrap();
    let last = place.lines().last().unwrap();
    let pack = forged
        .join("packs")
        .join(&last[..2])
        .join(format!("{last}.pack"));
    flip_byte(&pack, 10, 0x01);
    let o = run(&forged, &after);
    assert!(
        !o.status.success(),
        "the sequence accepted a changed pack:\n{}",
        text(&o)
    );
    assert!(!stdout(&o).contains("OK"), "{}", text(&o));
}

/// A pack's entries in offset order: each footer line's first 66 bytes ("<kind> <key,
/// padded>") and the entry's bytes.
fn pack_entries(pack: &[u8]) -> Vec<(String, Vec<u8>)> {
    let t = std::str::from_utf8(&pack[pack.len() - 43..]).unwrap();
    let n: usize = t[15..25].parse().unwrap();
    let f: usize = t[26..42].parse().unwrap();
    let mut entries: Vec<(usize, String, Vec<u8>)> = pack[f..f + 93 * n]
        .chunks(93)
        .map(|l| {
            let l = std::str::from_utf8(l).unwrap();
            let off: usize = l[67..79].parse().unwrap();
            let len: usize = l[80..92].parse().unwrap();
            (off, l[..66].to_string(), pack[off..off + len].to_vec())
        })
        .collect();
    entries.sort_by_key(|e| e.0);
    entries.into_iter().map(|(_, k, b)| (k, b)).collect()
}

/// A pack of these entries, in this order: the offsets, footer and trailer recomputed. Bytes
/// with no field are named by no footer line. The footer is sorted, or reversed if not
/// `sorted`.
fn build_pack(entries: &[(Option<String>, Vec<u8>)], sorted: bool) -> Vec<u8> {
    let mut pack = Vec::new();
    let mut lines = Vec::new();
    for (field, bytes) in entries {
        if let Some(field) = field {
            lines.push(format!("{field} {:012} {:012}\n", pack.len(), bytes.len()));
        }
        pack.extend_from_slice(bytes);
    }
    lines.sort();
    if !sorted {
        lines.reverse();
    }
    let f = pack.len();
    for l in &lines {
        pack.extend_from_slice(l.as_bytes());
    }
    pack.extend_from_slice(format!("exhibit-pack/1 {:010} {f:016}\n", lines.len()).as_bytes());
    pack
}

fn pack_path(archive: &Path, name: &str) -> PathBuf {
    archive
        .join("packs")
        .join(&name[..2])
        .join(format!("{name}.pack"))
}

/// Pack `bytes` in place of pack `old`, under its own name, which `log/places` then names: a
/// forgery that keeps every name and place consistent.
fn replace_pack(archive: &Path, old: &str, bytes: &[u8]) {
    use sha2::Digest;
    let new = hex::encode(sha2::Sha256::digest(bytes));
    fs::remove_file(pack_path(archive, old)).unwrap();
    let path = pack_path(archive, &new);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, bytes).unwrap();
    let places = archive.join("log").join("places");
    let text = fs::read_to_string(&places).unwrap();
    assert!(text.contains(old));
    fs::write(&places, text.replace(old, &new)).unwrap();
}

/// The 66-byte footer field of an entry: kind, space, key padded to 64.
fn field(kind: char, key: &str) -> String {
    format!("{kind} {key:<64}")
}

/// Section 3.3: a reader of one record MUST refuse a pack whose footer breaks a rule, and
/// `unpack.sh` is such a reader. Each pack here is rebuilt by someone without a key, its name
/// and `log/places` recomputed, so that the record asked for keeps its exact bytes and only the
/// footer rules can catch the change: before they were in `unpack.sh`, it and section 12 printed
/// OK for a gap, duplicates, an unsorted footer and a document both stored and referred to.
/// `exhibit verify` refuses each too. A pack rebuilt unchanged is accepted.
#[test]
fn format_md_unpack_sh_refuses_packs_that_break_the_footer_rules() {
    require_tools();
    let fx = Fixture::build();
    let (packed, after) = packed_copy(&fx);
    // The migrated pack: it holds the fixture's records, the target and another one, `other`.
    let target = fx.records[0].clone();
    let other = fx.records[1].clone();
    let leaves = fs::read_to_string(packed.join("log").join("leaves")).unwrap();
    let places = fs::read_to_string(packed.join("log").join("places")).unwrap();
    let index = leaves.lines().position(|l| l.starts_with(&target)).unwrap();
    let name = places.lines().nth(index).unwrap().to_string();
    let genuine = fs::read(pack_path(&packed, &name)).unwrap();
    let entries: Vec<(Option<String>, Vec<u8>)> = pack_entries(&genuine)
        .into_iter()
        .map(|(f, b)| (Some(f), b))
        .collect();
    assert_eq!(
        build_pack(&entries, true),
        genuine,
        "the rebuild is not byte-exact"
    );
    let at = |f: &str| entries.iter().position(|(k, _)| k.as_deref() == Some(f));
    let (m_target, s_target) = (
        at(&field('m', &target)).unwrap(),
        at(&field('s', &target)).unwrap(),
    );
    let (m_other, s_other) = (
        at(&field('m', &other)).unwrap(),
        at(&field('s', &other)).unwrap(),
    );
    let d = entries
        .iter()
        .position(|(k, _)| k.as_ref().is_some_and(|k| k.starts_with("d ")))
        .expect("a document entry in the pack");
    let d_sha = entries[d].0.as_ref().unwrap()[2..].trim_end().to_string();
    let after_pack = places.lines().last().unwrap().to_string();
    assert_ne!(after_pack, name);
    // `other`'s ID with another check symbol: the right form, but not a record ID (section 8).
    let misspelt = {
        let last = other.chars().last().unwrap();
        let to = if last == '0' { '1' } else { '0' };
        format!("{}{to}", &other[..16])
    };

    // What each forgery is, the pack's entries (footer name, bytes), and whether its footer is
    // sorted.
    type Forgery<'a> = (&'a str, Vec<(Option<String>, Vec<u8>)>, bool);
    let mut forgeries: Vec<Forgery> = Vec::new();
    let mut e = entries.clone();
    e.insert(
        1,
        (None, b"hidden bytes that no footer line names".to_vec()),
    );
    forgeries.push(("a gap holding hidden bytes between entries", e, true));
    let mut e = entries.clone();
    e.push(entries[m_target].clone());
    e.push(entries[s_target].clone());
    forgeries.push(("duplicate m and s entries", e, true));
    let mut e = entries.clone();
    e.push(entries[d].clone());
    forgeries.push(("a duplicate d entry", e, true));
    forgeries.push(("an unsorted footer", entries.clone(), false));
    let mut e = entries.clone();
    e.push((
        Some(field('r', &d_sha)),
        format!("{after_pack} {:012} {:012}\n", 0, entries[d].1.len()).into_bytes(),
    ));
    forgeries.push(("a document both stored (d) and referred to (r)", e, true));
    let mut e = entries.clone();
    e.remove(s_other);
    forgeries.push(("a manifest without its signature", e, true));
    let mut e = entries.clone();
    e[s_other].1.push(0);
    forgeries.push(("a signature of 65 bytes", e, true));
    let mut e = entries.clone();
    e[m_other].1.clear();
    forgeries.push(("an empty manifest", e, true));
    let mut e = entries.clone();
    e[m_other].0 = Some(field('m', &misspelt));
    e[s_other].0 = Some(field('s', &misspelt));
    forgeries.push(("a record ID with a wrong check symbol", e, true));

    // Genuine: the literal script accepts the pack, and the pack rebuilt unchanged.
    let o = unpack_sh(&packed, &target, &fx.dir.path().join("genuine-out"));
    assert!(
        o.status.success(),
        "unpack.sh refused a genuine pack:\n{}",
        text(&o)
    );
    let rebuilt = fx.dir.path().join("packed-rebuilt");
    copy_dir(&packed, &rebuilt);
    replace_pack(&rebuilt, &name, &build_pack(&entries, true));
    let o = unpack_sh(&rebuilt, &target, &fx.dir.path().join("rebuilt-out"));
    assert!(
        o.status.success(),
        "unpack.sh refused a rebuilt pack:\n{}",
        text(&o)
    );
    let o = fx.verify_sh(&fx.dir.path().join("rebuilt-out"), &target, &[]);
    assert!(o.status.success(), "{}", text(&o));

    for (i, (what, e, sorted)) in forgeries.into_iter().enumerate() {
        let forged = fx.dir.path().join(format!("packed-footer-{i}"));
        copy_dir(&packed, &forged);
        replace_pack(&forged, &name, &build_pack(&e, sorted));
        let out = fx.dir.path().join(format!("footer-out-{i}"));
        let o = unpack_sh(&forged, &target, &out);
        assert!(
            !o.status.success() && !stdout(&o).contains("UNPACKED"),
            "unpack.sh accepted a pack with {what}:\n{}",
            text(&o)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(".pack: "),
            "unpack.sh refused a pack with {what} without naming it:\n{}",
            text(&o)
        );
        let o = fx.exhibit(&["--archive", forged.to_str().unwrap(), "verify", &target]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "exhibit verify, {what}:\n{}",
            text(&o)
        );
        let o = unpack_sh(
            &forged,
            "all",
            &fx.dir.path().join(format!("footer-all-{i}")),
        );
        assert!(
            !o.status.success(),
            "unpack.sh all accepted {what}:\n{}",
            text(&o)
        );
    }
    // The record committed after the migration is in an untouched pack of its own, but the key
    // records unpack.sh also unpacks for it are in the forged one: refused too.
    let forged = fx.dir.path().join("packed-footer-0");
    let o = unpack_sh(&forged, &after, &fx.dir.path().join("after-out"));
    assert!(!o.status.success(), "{}", text(&o));

    // F beyond 999,999,999,999 (section 3.3), every other rule kept: the footer's 12-digit
    // offsets still cover [0, F) exactly, the last entry being one byte at offset
    // 999,999,999,999, in a sparse file of 1 TB. Both readers refuse it from its trailer and
    // length, before reading it whole. (Its name cannot be its SHA-256, which would take
    // reading 1 TB: the old unpack.sh read it all to find that out, and only that.)
    let cap: u64 = 999_999_999_999;
    let real: Vec<u8> = entries.iter().flat_map(|(_, b)| b.clone()).collect();
    let mut lines: Vec<String> = Vec::new();
    let mut at = 0u64;
    for (f, b) in &entries {
        lines.push(format!(
            "{} {at:012} {:012}\n",
            f.as_ref().unwrap(),
            b.len()
        ));
        at += b.len() as u64;
    }
    lines.push(format!(
        "{} {at:012} {:012}\n",
        field('d', &"e".repeat(64)),
        cap - at
    ));
    lines.push(format!(
        "{} {cap:012} {:012}\n",
        field('d', &"f".repeat(64)),
        1
    ));
    lines.sort();
    let footer = lines.concat();
    let f = cap + 1;
    let trailer = format!("exhibit-pack/1 {:010} {f:016}\n", lines.len());
    let forged = fx.dir.path().join("packed-beyond-cap");
    copy_dir(&packed, &forged);
    let big = common::sha256_hex(footer.as_bytes());
    fs::remove_file(pack_path(&forged, &name)).unwrap();
    let path = pack_path(&forged, &big);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = fs::File::create(&path).unwrap();
        file.write_all(&real).unwrap();
        file.set_len(f)
            .expect("a sparse file of 1 TB in the temporary directory");
        file.seek(SeekFrom::Start(f)).unwrap();
        file.write_all(footer.as_bytes()).unwrap();
        file.write_all(trailer.as_bytes()).unwrap();
    }
    let places_path = forged.join("log").join("places");
    let text_places = fs::read_to_string(&places_path).unwrap();
    fs::write(&places_path, text_places.replace(&name, &big)).unwrap();
    let timed = |program: &str| {
        let mut c = Command::new("timeout");
        c.arg("60").arg(program);
        c
    };
    let o = timed("bash")
        .arg("-c")
        .arg(fenced("unpack.sh", "bash"))
        .env("ARCHIVE", &forged)
        .env("RECORD", &target)
        .env("OUT", fx.dir.path().join("beyond-cap-out"))
        .output()
        .unwrap();
    assert!(
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr)
                .contains(".pack: the footer begins beyond byte 999,999,999,999"),
        "unpack.sh did not refuse a footer beyond the cap from its trailer:\n{}",
        text(&o)
    );
    let o = timed(exhibit_bin())
        .args(["--archive", forged.to_str().unwrap(), "verify", &target])
        .env("EXHIBIT_KEY", &fx.key)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "exhibit verify:\n{}", text(&o));
    assert!(
        text(&o).contains("beyond 999,999,999,999"),
        "exhibit verify did not say why:\n{}",
        text(&o)
    );
    fs::remove_dir_all(&forged).unwrap();
}

/// Section 2: every line ends in LF. A checkpoint or `log/keys` with CRLF line endings is
/// refused by exhibit and the shell steps, and by verify.py, which reads every file as bytes
/// (text mode would turn CRLF back into LF and accept it).
#[test]
fn format_md_verify_py_refuses_crlf_line_endings() {
    require_tools();
    let fx = Fixture::build();
    let target = fx.records[0].clone();
    let o = fx.verify_py(&fx.archive, &target, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let crlf = |path: &Path| {
        let t = fs::read_to_string(path).unwrap();
        assert!(!t.contains('\r'));
        fs::write(path, t.replace('\n', "\r\n")).unwrap();
    };
    let archive = fx.tampered("crlf-checkpoint", |a| {
        crlf(&a.join("log").join("checkpoint"))
    });
    let o = fx.verify_py(&archive, &target, &[]);
    assert!(
        !o.status.success(),
        "verify.py accepted a CRLF checkpoint:\n{}",
        text(&o)
    );
    assert!(text(&o).contains("AssertionError"), "{}", text(&o));
    let o = fx.verify_sh(&archive, &target, &[]);
    assert!(
        !o.status.success(),
        "verify.sh accepted a CRLF checkpoint:\n{}",
        text(&o)
    );
    let o = fx.exhibit(&["--archive", archive.to_str().unwrap(), "verify", &target]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "exhibit accepted a CRLF checkpoint:\n{}",
        text(&o)
    );

    let keys = fx.archive.join("log").join("keys");
    assert!(keys.exists(), "the fixture has key records");
    let archive = fx.tampered("crlf-keys", |a| crlf(&a.join("log").join("keys")));
    let o = fx.verify_py(&archive, &target, &[]);
    assert!(
        !o.status.success(),
        "verify.py accepted a CRLF log/keys:\n{}",
        text(&o)
    );
    assert!(text(&o).contains("log/keys"), "{}", text(&o));
    let o = fx.exhibit(&["--archive", archive.to_str().unwrap(), "verify", &target]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "exhibit accepted a CRLF log/keys:\n{}",
        text(&o)
    );
    // A line that ends in a form feed, which Python's str.splitlines takes for a line break:
    // lines end at LF only, so it is part of the next line, which then is not a key record's.
    let archive = fx.tampered("ff-keys", |a| {
        let path = a.join("log").join("keys");
        let t = fs::read_to_string(&path).unwrap();
        fs::write(&path, format!("hidden\x0c{t}")).unwrap();
    });
    let o = fx.verify_py(&archive, &target, &[]);
    assert!(
        !o.status.success(),
        "verify.py accepted a hidden log/keys line:\n{}",
        text(&o)
    );
    let o = fx.exhibit(&["--archive", archive.to_str().unwrap(), "verify", &target]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "exhibit accepted a hidden log/keys line:\n{}",
        text(&o)
    );
}
