//! The packed layout (exhibit-archive/2, `init --layout packed`), through the real binary
//! against a loopback server: one pack per commit, a record found from its ID, small documents
//! in the pack and large ones as blob files of their own, every record verifiable with the
//! standard tools from the pack's footer, and a changed byte of a pack caught.

mod common;

use common::server::{Route, TestServer};
use common::Env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn packed_env() -> Env {
    Env::packed()
}

fn packs(archive: &Path) -> Vec<PathBuf> {
    common::files_under(&archive.join("packs"))
}

/// Bytes zstd cannot shrink, so their blob stays a file of its own (over 64 KiB stored).
fn incompressible(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn pages(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("/page/{i}"),
                format!("<html><title>Page {i}</title><p>Text of page {i}.</p></html>")
                    .into_bytes(),
            )
        })
        .collect()
}

fn serve(pages: &[(String, Vec<u8>)], big: &[u8]) -> TestServer {
    let mut routes: Vec<(&str, Route)> = pages
        .iter()
        .map(|(p, b)| (p.as_str(), Route::html(b.clone())))
        .collect();
    routes.push(("/big.bin", Route::text(big.to_vec())));
    TestServer::start(routes)
}

#[test]
fn a_packed_archive_stores_a_commit_group_in_one_pack_and_every_record_verifies() {
    let env = packed_env();
    let pages = pages(20);
    let big = incompressible(200 * 1024);
    let server = serve(&pages, &big);
    let config = std::fs::read_to_string(env.archive.join("exhibit.json")).unwrap();
    assert!(config.contains("exhibit-archive/2"), "{config}");
    assert!(!env.archive.join("records").exists());

    // One batch: twenty pages, committed in groups, each group one pack.
    let urls: Vec<String> = pages.iter().map(|(p, _)| server.url(p)).collect();
    let child = env.spawn_capture("urls.txt", &urls);
    let ids = common::printed_ids(child);
    assert_eq!(ids.len(), 20);
    let big_record = env.capture(&server.url("/big.bin"), &[]);
    let big_id = big_record["record_id"].as_str().unwrap().to_string();

    let packs_now = packs(&env.archive);
    // The founding key record, the batch (in as many groups as capture made) and the large
    // capture: far fewer files than records, and no record files at all.
    assert!(packs_now.len() < 12, "{} packs", packs_now.len());
    let loose: Vec<PathBuf> = common::files_under(&env.archive.join("documents"));
    assert_eq!(
        loose.len(),
        1,
        "only the large document is a file: {loose:?}"
    );
    assert!(loose[0]
        .to_string_lossy()
        .contains(&common::sha256_hex(&big)));

    // Captures finish in any order; every page comes back exactly once.
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        env.ok(&["verify", id]);
        let cat = env.command(&["cat", id]).output().unwrap();
        assert!(cat.status.success());
        assert!(pages.iter().any(|(_, b)| *b == cat.stdout), "{id}");
        assert!(seen.insert(cat.stdout), "{id} repeats a page");
    }
    env.ok(&["verify", &big_id]);
    let cat = env.command(&["cat", &big_id]).output().unwrap();
    assert_eq!(cat.stdout, big);
    let shown = env.ok(&["show", &ids[3]]);
    assert!(shown.contains("/page/"), "{shown}");
}

/// FORMAT's by-hand procedure for a packed record: find the record's lines in its pack's
/// footer, cut out the manifest and the signature with `tail -c` and `head -c`, check the
/// signature with `openssl pkeyutl`, and the document with `zstd -dc | sha256sum`.
#[test]
fn a_packed_record_verifies_with_tail_head_openssl_and_zstd() {
    let env = packed_env();
    let pages = pages(3);
    let server = serve(&pages, b"");
    let rec = env.capture(&server.url("/page/1"), &[]);
    let id = rec["record_id"].as_str().unwrap();
    let sha = common::sha256_hex(&pages[1].1);
    let key = std::fs::read_dir(env.archive.join("keys"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let script = r#"
set -eu
A=$1 ID=$2 SHA=$3 KEY=$4 W=$5
# The record's log index is in its manifest; here we find its pack the way a reader without
# exhibit would: the leaf line that names the record, and the place line of the same number.
N=$(grep -n "^$ID " "$A/log/leaves" | cut -d: -f1)
PACK=$(sed -n "${N}p" "$A/log/places")
P=$A/packs/$(printf %s "$PACK" | cut -c1-2)/$PACK.pack
[ "$(sha256sum < "$P" | cut -d' ' -f1)" = "$PACK" ]
T=$(tail -c 43 "$P")
COUNT=$(printf %s "$T" | cut -d' ' -f2) F=$(printf %s "$T" | cut -d' ' -f3)
COUNT=$((10#$COUNT)) F=$((10#$F))
tail -c +$((F + 1)) "$P" | head -c $((COUNT * 93)) > "$W/footer"
entry() { # kind key -> "offset length"
    grep "^$1 $2 " "$W/footer" | awk '{ print $3 + 0, $4 + 0 }'
}
read -r O L <<EOF
$(entry m "$ID")
EOF
tail -c +$((O + 1)) "$P" | head -c "$L" > "$W/manifest.json"
read -r O L <<EOF
$(entry s "$ID")
EOF
tail -c +$((O + 1)) "$P" | head -c "$L" > "$W/manifest.sig"
openssl pkeyutl -verify -pubin -inkey "$KEY" -rawin -in "$W/manifest.json" -sigfile "$W/manifest.sig"
grep -q "\"sha256\":\"$SHA\"" "$W/manifest.json"
read -r O L <<EOF
$(entry d "$SHA")
EOF
[ "$(tail -c +$((O + 1)) "$P" | head -c "$L" | zstd -dc | sha256sum | cut -d' ' -f1)" = "$SHA" ]
echo ALL CHECKS PASSED
"#;
    let work = tempfile::tempdir().unwrap();
    let run = |archive: &Path| {
        Command::new("bash")
            .args(["-c", script, "check"])
            .arg(archive)
            .args([id, &sha])
            .arg(&key)
            .arg(work.path())
            .output()
            .unwrap()
    };
    let out = run(&env.archive);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ALL CHECKS PASSED"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The same steps on a pack with one byte of the manifest changed: the pack's name no
    // longer matches, and without that check the signature fails.
    let forged = tempfile::tempdir().unwrap();
    common::copy_dir(&env.archive, forged.path());
    let manifest = std::fs::read(work.path().join("manifest.json")).unwrap();
    let pack = packs(forged.path())
        .into_iter()
        .find(|p| {
            let b = std::fs::read(p).unwrap();
            b.windows(manifest.len()).any(|w| w == manifest)
        })
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = bytes
        .windows(manifest.len())
        .position(|w| w == manifest)
        .unwrap()
        + manifest.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&pack, &bytes).unwrap();
    let out = run(forged.path());
    assert!(!out.status.success());
    let r = Env {
        dir: tempfile::tempdir().unwrap(),
        archive: forged.path().to_path_buf(),
        key: env.key.clone(),
    }
    .run(&["verify", id]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
}

fn audit_names(env: &Env, path_part: &str, what_part: &str) {
    let (code, report) = env.audit(&[]);
    assert_eq!(code, 1, "audit passed: {report:#}");
    let named = report["problems"].as_array().unwrap().iter().any(|p| {
        p["severity"] == "error"
            && p["path"].as_str().unwrap().contains(path_part)
            && p["what"].as_str().unwrap().contains(what_part)
    });
    assert!(
        named,
        "no error naming {path_part:?} with {what_part:?}: {report:#}"
    );
}

/// A pack removed, a pack added, `log/places` cut short or pointed at another pack, a pack's
/// document moved to another pack: each fails audit and names what is wrong.
#[test]
fn missing_extra_and_misplaced_packs_fail_audit() {
    let env = packed_env();
    let pages = pages(4);
    let server = serve(&pages, b"");
    let a = env.capture(&server.url("/page/0"), &[]);
    env.capture(&server.url("/page/1"), &[]);
    env.assert_audit_clean();
    let id = a["record_id"].as_str().unwrap();
    let places = env.archive.join("log").join("places");
    let lines = std::fs::read_to_string(&places).unwrap();
    let line1 = lines.lines().nth(1).unwrap().to_string();
    let line2 = lines.lines().nth(2).unwrap().to_string();
    let pack_of = |sha: &str| {
        env.archive
            .join("packs")
            .join(&sha[..2])
            .join(format!("{sha}.pack"))
    };

    // Removed: the record it held is named, and verify refuses it.
    let saved = std::fs::read(pack_of(&line1)).unwrap();
    std::fs::remove_file(pack_of(&line1)).unwrap();
    audit_names(&env, "log/places", "which is missing");
    env.fails(&["verify", id], 1);
    std::fs::write(pack_of(&line1), &saved).unwrap();
    env.assert_audit_clean();

    // An extra pack, well formed and correctly named, that no place line names.
    let (bytes, sha) = {
        let mut w = exhibit::core::pack::PackWriter::new(Vec::new());
        w.add_document(
            exhibit::core::digest::Sha256::of(b"x"),
            &mut &b"not a blob"[..],
        )
        .unwrap();
        let (b, sha, _) = w.finish().unwrap();
        (b, sha.to_string())
    };
    std::fs::create_dir_all(pack_of(&sha).parent().unwrap()).unwrap();
    std::fs::write(pack_of(&sha), &bytes).unwrap();
    audit_names(&env, &sha, "extra pack");
    std::fs::remove_file(pack_of(&sha)).unwrap();

    // log/places pointing leaf 1 at the pack of leaf 2.
    std::fs::write(&places, lines.replacen(&line1, &line2, 1)).unwrap();
    audit_names(&env, &line2, "holds no record");
    // ... and cut short.
    std::fs::write(&places, &lines[..65]).unwrap();
    audit_names(&env, "log/places", "holds 1 lines");
    std::fs::write(&places, &lines).unwrap();
    env.assert_audit_clean();
}

/// `exhibit migrate`: every record keeps its ID and verifies, the copy audits clean with the
/// pinned key and extends a checkpoint saved before the migration, and records committed
/// afterwards have the IDs of their positions. The source is left as it was.
#[test]
fn migrate_keeps_every_record_id_and_the_log_history() {
    let env = Env::bare();
    env.ok(&["init", "--layout", "loose"]);
    let pages = pages(6);
    let big = incompressible(100 * 1024);
    let server = serve(&pages, &big);
    let mut ids = Vec::new();
    for (p, _) in &pages {
        ids.push(
            env.capture(&server.url(p), &[])["record_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    ids.push(
        env.capture(&server.url("/big.bin"), &[])["record_id"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    // A key rotation before the migration: key records must come through as they are.
    let founding_pub = env.dir.path().join("founding.pub");
    std::fs::copy(exhibit::keys::public_path(&env.key), &founding_pub).unwrap();
    env.ok(&["keys", "rotate"]);
    let before = env.ok(&["checkpoint"]);
    let saved = env.dir.path().join("before.checkpoint");
    std::fs::write(&saved, &before).unwrap();
    let source_files = common::files_under(&env.archive);

    let dest = env.dir.path().join("packed");
    let out = env.ok(&["migrate", dest.to_str().unwrap()]);
    assert!(out.contains("exhibit-archive/2"), "{out}");
    assert_eq!(common::files_under(&env.archive), source_files);
    // Migrating again onto the result is refused, and so is migrating a packed archive.
    let again = env.fails(&["migrate", dest.to_str().unwrap()], 2);
    common::assert_one_line_error(&again.stderr, "already exists");

    let moved = Env {
        dir: tempfile::tempdir().unwrap(),
        archive: dest.clone(),
        key: env.key.clone(),
    };
    let pin = founding_pub.to_str().unwrap();
    let (code, report) = moved.audit(&["--trusted-key", pin, "--since", saved.to_str().unwrap()]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        moved.ok(&["checkpoint"]),
        before,
        "the checkpoint is carried over as it is"
    );
    for id in &ids {
        moved.ok(&["verify", id, "--trusted-key", pin]);
    }
    let cat = moved.command(&["cat", &ids[6]]).output().unwrap();
    assert_eq!(cat.stdout, big);
    assert!(dest.join("log").join("legacy-ids").exists());
    let packed_again = moved.fails(&["migrate", env.dir.path().join("x").to_str().unwrap()], 2);
    common::assert_one_line_error(&packed_again.stderr, "already packed");

    // A capture into the migrated archive, signed by the rotated-to key, at the next position.
    let after = moved.capture(&server.url("/page/0"), &[]);
    let after_id = after["record_id"].as_str().unwrap();
    moved.ok(&["verify", after_id, "--trusted-key", pin]);
    let (code, report) = moved.audit(&["--trusted-key", pin, "--since", saved.to_str().unwrap()]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["records"], report["tree_size"]);
}

/// docs/FORMAT.md's `unpack.sh`, exactly as printed there.
fn unpack_sh() -> String {
    let format = include_str!("../docs/FORMAT.md");
    let begin = format.find("<!-- unpack.sh begin -->").unwrap();
    let end = format.find("<!-- unpack.sh end -->").unwrap();
    let block = &format[begin..end];
    let start = block.find("```bash\n").unwrap() + "```bash\n".len();
    let stop = block.rfind("```").unwrap();
    block[start..stop].to_string()
}

/// A check of an unchanged page refers to the document its earlier record stored instead of
/// storing it again; the reference is followed by exhibit and by `unpack.sh`, and a changed
/// reference fails audit.
#[test]
fn an_unchanged_check_refers_to_the_stored_document() {
    let env = packed_env();
    let pages = pages(2);
    let server = serve(&pages, b"");
    let url = server.url("/page/1");
    env.capture(&url, &[]);
    let out = env.ok(&["check", "--json", &url]);
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["outcome"], "unchanged", "{v}");
    let id = v["record_id"].as_str().unwrap().to_string();
    env.assert_audit_clean();
    env.ok(&["verify", &id]);
    let cat = env.command(&["cat", &id]).output().unwrap();
    assert_eq!(cat.stdout, pages[1].1);

    // The check's pack holds a reference, not a second copy.
    let places = std::fs::read_to_string(env.archive.join("log").join("places")).unwrap();
    let last = places.lines().last().unwrap();
    let pack = env
        .archive
        .join("packs")
        .join(&last[..2])
        .join(format!("{last}.pack"));
    let bytes = std::fs::read(&pack).unwrap();
    let sha = common::sha256_hex(&pages[1].1);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains(&format!("\nr {sha} ")),
        "no reference in {text}"
    );
    assert!(!text.contains(&format!("\nd {sha} ")));

    // Without exhibit: unpack.sh follows the reference.
    let out_dir = env.dir.path().join("unpacked");
    let o = Command::new("bash")
        .arg("-c")
        .arg(unpack_sh())
        .env("ARCHIVE", &env.archive)
        .env("RECORD", &id)
        .env("OUT", &out_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let blob = out_dir
        .join("documents")
        .join(&sha[..2])
        .join(format!("{sha}.zst"));
    let z = Command::new("zstd")
        .arg("-dcq")
        .arg(&blob)
        .output()
        .unwrap();
    assert_eq!(z.stdout, pages[1].1);

    // A reference pointed a byte further along: audit names it, verify refuses the record.
    let at = text.find(&format!("\nr {sha} ")).unwrap() + 1 + 2 + 64 + 1;
    let off: usize = text[at..at + 12].parse().unwrap();
    let mut forged = bytes.clone();
    let target_off: usize = String::from_utf8_lossy(&bytes[off + 65..off + 77])
        .parse()
        .unwrap();
    forged[off + 65..off + 77].copy_from_slice(format!("{:012}", target_off + 1).as_bytes());
    // The pack is renamed to its new hash and log/places follows, as a forger would.
    let new_sha = common::sha256_hex(&forged);
    let new_pack = env
        .archive
        .join("packs")
        .join(&new_sha[..2])
        .join(format!("{new_sha}.pack"));
    std::fs::create_dir_all(new_pack.parent().unwrap()).unwrap();
    std::fs::write(&new_pack, &forged).unwrap();
    std::fs::remove_file(&pack).unwrap();
    std::fs::write(
        env.archive.join("log").join("places"),
        places.replace(last, &new_sha),
    )
    .unwrap();
    audit_names(&env, &format!("[r {sha}]"), "holds no such entry");
    env.fails(&["verify", &id], 1);
    // unpack.sh refuses it too (section 3.3: the reference must land on a document entry of
    // that SHA-256), rather than cutting out bytes that are no entry.
    let o = Command::new("bash")
        .arg("-c")
        .arg(unpack_sh())
        .env("ARCHIVE", &env.archive)
        .env("RECORD", &id)
        .env("OUT", env.dir.path().join("unpacked-forged"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "unpack.sh followed a forged reference");
    assert!(stderr.contains("a reference to no entry"), "{stderr}");
}

/// The review's forgery against recovery, in the packed layout: lines appended beyond the
/// checkpoint that name a committed pack (and a committed record) look like an interrupted
/// write; the next writer cuts them off and removes nothing that is committed.
#[test]
fn a_forged_tail_naming_a_committed_pack_removes_nothing() {
    let env = packed_env();
    let pages = pages(3);
    let server = serve(&pages, b"");
    let first = env.capture(&server.url("/page/0"), &[]);
    let id = first["record_id"].as_str().unwrap().to_string();
    let log = env.archive.join("log");
    let leaves = std::fs::read_to_string(log.join("leaves")).unwrap();
    let places = std::fs::read_to_string(log.join("places")).unwrap();
    let (leaf, place) = (
        leaves.lines().last().unwrap().to_string(),
        places.lines().last().unwrap().to_string(),
    );
    std::fs::write(log.join("leaves"), format!("{leaves}{leaf}\n")).unwrap();
    std::fs::write(log.join("places"), format!("{places}{place}\n")).unwrap();
    let (code, _) = env.audit(&[]);
    assert_eq!(code, 1, "a tail line naming a committed record is damage");
    env.capture(&server.url("/page/1"), &[]);
    env.assert_audit_clean();
    env.ok(&["verify", &id]);
}

/// The review's attack on `unpack.sh`: names from the archive (record IDs in `log/leaves`,
/// keys in a footer) are untrusted, and the script writes only below OUT. A line beyond the
/// checkpoint is not unpacked at all; a committed line or a requested ID that is not a record
/// ID stops the script.
#[test]
fn unpack_sh_never_writes_outside_its_directory() {
    let env = packed_env();
    let pages = pages(2);
    let server = serve(&pages, b"");
    let id = env.capture(&server.url("/page/0"), &[])["record_id"]
        .as_str()
        .unwrap()
        .to_string();
    let victim = env.dir.path().join("victim");
    let evil = format!("../../../../../../../..{}", victim.display());
    let run = |archive: &Path, record: &str, out: &str| {
        Command::new("bash")
            .arg("-c")
            .arg(unpack_sh())
            .env("ARCHIVE", archive)
            .env("RECORD", record)
            .env("OUT", env.dir.path().join(out))
            .output()
            .unwrap()
    };
    let leaves = env.archive.join("log").join("leaves");
    let genuine = std::fs::read_to_string(&leaves).unwrap();
    // Beyond the checkpoint: not unpacked.
    std::fs::write(&leaves, format!("{genuine}{evil} {}\n", "0".repeat(64))).unwrap();
    let o = run(&env.archive, "all", "out1");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Asked for by name, or in a committed line: refused.
    assert!(!run(&env.archive, &evil, "out2").status.success());
    std::fs::write(&leaves, genuine.replacen(&id, &evil[..17], 1)).unwrap();
    assert!(!run(&env.archive, "all", "out3").status.success());
    assert!(
        !victim.exists() && !victim.with_extension("json").exists(),
        "unpack.sh wrote outside OUT"
    );
}

/// A hostile pack from the review: a sparse file whose trailer claims a billion entries (its
/// length agrees). Readers answer with one error line, never by trying to allocate what the
/// bytes claim.
#[test]
fn hostile_pack_sizes_are_refused_without_allocating_them() {
    let env = packed_env();
    let pages = pages(1);
    let server = serve(&pages, b"");
    let id = env.capture(&server.url("/page/0"), &[])["record_id"]
        .as_str()
        .unwrap()
        .to_string();
    let places_path = env.archive.join("log").join("places");
    let places = std::fs::read_to_string(&places_path).unwrap();
    let last = places.lines().last().unwrap().to_string();
    let fake = "ab".repeat(32);
    let fake_pack = env
        .archive
        .join("packs")
        .join("ab")
        .join(format!("{fake}.pack"));
    std::fs::create_dir_all(fake_pack.parent().unwrap()).unwrap();
    let count: u64 = 1_000_000_000;
    let trailer = format!("exhibit-pack/1 {count:010} {:016}\n", 0);
    let f = std::fs::File::create(&fake_pack).unwrap();
    f.set_len(count * 93).unwrap();
    use std::io::{Seek, Write};
    let mut f = f;
    f.seek(std::io::SeekFrom::End(0)).unwrap();
    f.write_all(trailer.as_bytes()).unwrap();
    drop(f);
    std::fs::write(&places_path, places.replace(&last, &fake)).unwrap();
    for cmd in ["verify", "show", "cat"] {
        let r = env.run(&[cmd, &id]);
        assert!(
            r.code == 1 || r.code == 3 || r.code == 7,
            "{cmd}: exit {} (a crash is 134)\n{}",
            r.code,
            r.stderr
        );
        assert!(r.stderr.contains("entries"), "{cmd}: {}", r.stderr);
    }
    std::fs::remove_file(&fake_pack).unwrap();
    std::fs::write(&places_path, &places).unwrap();
    env.ok(&["verify", &id]);
}

/// `migrate` of a damaged archive writes nothing: the blob is checked as it is copied, and the
/// copy (built beside DEST) is removed. No archive at all is exit 7 too.
#[test]
fn migrate_of_a_damaged_archive_writes_nothing() {
    let env = Env::bare();
    env.ok(&["init", "--layout", "loose"]);
    let f = env.dir.path().join("doc.txt");
    std::fs::write(&f, "a document to damage").unwrap();
    env.ok(&[
        "import",
        f.to_str().unwrap(),
        "--url",
        "https://example.org/d",
    ]);
    let sha = common::sha256_hex(b"a document to damage");
    let blob = env
        .archive
        .join("documents")
        .join(&sha[..2])
        .join(format!("{sha}.zst"));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[6] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();
    let dest = env.dir.path().join("out");
    let r = env.fails(&["migrate", dest.to_str().unwrap()], 7);
    common::assert_one_line_error(&r.stderr, &sha);
    let left: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("out"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let none = Env::bare();
    none.fails(&["migrate", dest.to_str().unwrap()], 7);
}
