//! The strict readings of docs/FORMAT.md, through the real binary: only the byte forms exhibit
//! writes are accepted, whoever made the bytes. Each test builds what someone who can write the
//! archive could make, often with the signing key too (records re-signed and the log resealed,
//! so that nothing but the rule under test is wrong), and checks that `verify` and `audit`
//! refuse it and name what is wrong.
//!
//! - 4.2: a blob is exactly one zstd frame, as exhibit lays it out, then the trailer;
//! - 5.1/5.6: a manifest is valid only in its canonical byte form; times are exactly
//!   `YYYY-MM-DDTHH:MM:SSZ`; `value_base64` is canonical base64 of bytes that are not UTF-8;
//! - 2: base64 is accepted only in its canonical spelling (checkpoints, PEM keys);
//! - 9.5: every archive has a checkpoint from its creation on; a missing one is damage.

mod common;

use common::{assert_one_line_error, Env};
use exhibit::manifest::Manifest;
use std::fs;
use std::path::{Path, PathBuf};

/// An archive with one imported document; returns the record ID and the document's hash.
fn one_record(env: &Env, body: &[u8]) -> (String, String) {
    let file = env.dir.path().join("doc.html");
    fs::write(&file, body).unwrap();
    let out = env.ok(&[
        "import",
        file.to_str().unwrap(),
        "--url",
        "https://example.org/terms",
        "--content-type",
        "text/html",
    ]);
    let mut words = out.split_whitespace();
    let id = words.next().unwrap().to_string();
    let sha = words.next().unwrap().to_string();
    assert_eq!(sha.len(), 64, "{out}");
    (id, sha)
}

fn blob_path(env: &Env, sha: &str) -> PathBuf {
    env.archive
        .join("documents")
        .join(&sha[..2])
        .join(format!("{sha}.zst"))
}

fn manifest_path(env: &Env, id: &str) -> PathBuf {
    env.archive
        .join("records")
        .join(&id[3..5])
        .join(format!("{id}.json"))
}

/// Replace a blob's bytes before the trailer and write a correct trailer for them: what anyone
/// who can write the archive can do without any key.
fn retrail(path: &Path, body: &[u8]) {
    use sha2::Digest;
    let mut file = body.to_vec();
    file.extend_from_slice(&[0x5E, 0x2A, 0x4D, 0x18, 40, 0, 0, 0]);
    file.extend_from_slice(b"EXHBLOB1");
    file.extend_from_slice(&sha2::Sha256::digest(body));
    fs::write(path, file).unwrap();
}

/// One zstd frame of `data` in a form exhibit's writer made (streamed at level 3, as before
/// 2026-12-03; content checksum, no content size).
fn exhibit_frame(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    e.include_checksum(true).unwrap();
    e.write_all(data).unwrap();
    let frame = e.finish().unwrap();
    assert_eq!(frame[4], 0x04, "the writer's header form");
    frame
}

/// Both commands refuse the record and name the document's blob and what is wrong with it.
fn assert_document_refused(env: &Env, id: &str, sha: &str, why: &str) {
    let r = env.fails(&["verify", id], 1);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("FAIL document"))
        .unwrap_or_else(|| panic!("no failed document check:\n{}{}", r.stdout, r.stderr));
    assert!(line.contains(sha) && line.contains(why), "{line}");
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 1, "{v:#}");
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["severity"] == "error"
            && p["path"].as_str().unwrap().contains(sha)
            && p["what"].as_str().unwrap().contains(why)),
        "audit does not name {sha} ({why}): {v:#}"
    );
}

#[test]
fn blobs_with_smuggled_bytes_fail_verify_and_audit_naming_the_document() {
    let doc = b"<html><title>Terms</title><p>We keep logs for 30 days.</p></html>\n".repeat(40);
    let genuine_env = Env::new();
    let (_, sha) = one_record(&genuine_env, &doc);
    let genuine = fs::read(blob_path(&genuine_env, &sha)).unwrap();
    let body = genuine[..genuine.len() - 48].to_vec();
    let skippable = |len: usize| {
        let mut f = vec![0x5A, 0x2A, 0x4D, 0x18];
        f.extend_from_slice(&(len as u32).to_le_bytes());
        f.extend(std::iter::repeat_n(b'S', len));
        f
    };
    let (first, second) = doc.split_at(doc.len() / 2);
    // A frame header with a Dictionary_ID field: descriptor 0x05 (checksum, a 1-byte ID), the
    // window descriptor, then the ID 0, which RFC 8878 defines as "no dictionary", so every
    // decoder still reads the frame: one more header byte of someone's choosing.
    let mut with_dict = body.clone();
    with_dict[4] = 0x05;
    with_dict.insert(6, 0x00);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "1 MiB in a skippable frame before the trailer",
            [body.clone(), skippable(1 << 20)].concat(),
            "a skippable frame besides the exhibit trailer",
        ),
        (
            "a skippable frame before the document's frame",
            [skippable(100), body.clone()].concat(),
            "a skippable frame before the zstd frame",
        ),
        (
            "the document split into two frames",
            [exhibit_frame(first), exhibit_frame(second)].concat(),
            "a second zstd frame after the first",
        ),
        (
            "bytes after the frame",
            [&body[..], b"smuggled data"].concat(),
            "bytes after the zstd frame",
        ),
        (
            "a dictionary ID in the frame header",
            with_dict,
            "its zstd frame names a dictionary",
        ),
    ];
    for (what, smuggled, why) in cases {
        let env = Env::new();
        let (id, sha2) = one_record(&env, &doc);
        assert_eq!(sha2, sha);
        env.assert_audit_clean();
        retrail(&blob_path(&env, &sha), &smuggled);
        // Every one of these still decompresses to the document with zstd's own tool, which
        // skips skippable frames and concatenates frames: only the layout rule catches them.
        if !what.starts_with("bytes after") {
            let out = std::process::Command::new("zstd")
                .args(["-dc", blob_path(&env, &sha).to_str().unwrap()])
                .output()
                .expect("run zstd");
            assert!(out.status.success(), "{what}: zstd -dc failed");
            assert_eq!(common::sha256_hex(&out.stdout), sha, "{what}");
        }
        assert_document_refused(&env, &id, &sha, why);
        // Every other reader of blobs refuses it too: cat (before writing anything), export.
        // (cat's exit code and hint belong to the CLI work on `cat`; the refusal is the store's.)
        let r = env.run(&["cat", &id]);
        assert_ne!(r.code, 0, "{what}: cat accepted it");
        assert!(r.stdout.is_empty(), "{what}: cat wrote unverified bytes");
        assert!(r.stderr.contains(why), "{what}: {}", r.stderr);
        let out = env.dir.path().join("bundle.zip");
        let r = env.run(&["export", &id, "--out", out.to_str().unwrap()]);
        assert_ne!(r.code, 0, "{what}: export accepted it\n{}", r.stderr);
        assert!(!out.exists(), "{what}: a bundle was written");
    }
}

#[test]
fn blobs_exhibit_writes_pass_the_layout_check() {
    // Both header forms: an empty document (`24 00`; a captured one got `04 58` before
    // 2026-12-03) and others.
    let env = Env::new();
    for (i, body) in [&b""[..], b"x", &[0u8; 300_000]].iter().enumerate() {
        let file = env.dir.path().join(format!("f{i}"));
        fs::write(&file, body).unwrap();
        env.ok(&[
            "import",
            file.to_str().unwrap(),
            "--url",
            &format!("https://example.org/{i}"),
        ]);
    }
    let server =
        common::server::TestServer::start(vec![("/empty", common::server::Route::text(""))]);
    env.ok(&["capture", &server.url("/empty")]);
    let headers: Vec<Vec<u8>> = common::files_under(&env.archive.join("documents"))
        .iter()
        .map(|p| fs::read(p).unwrap()[4..6].to_vec())
        .collect();
    assert!(headers.contains(&vec![0x24, 0x00]), "{headers:02x?}");
    assert!(headers.iter().any(|h| h[0] == 0x04), "{headers:02x?}");
    env.assert_audit_clean();
}

/// Write `bytes` as the manifest of `id`, sign it with the archive's key, and reseal the log
/// (log/hashes and the checkpoint) over every record's manifest: what the key holder could do.
/// Only the rule under test is then wrong.
fn resign(env: &Env, id: &str, bytes: &[u8]) {
    let key = exhibit::keys::load(&env.key).unwrap();
    let path = manifest_path(env, id);
    fs::write(&path, bytes).unwrap();
    fs::write(path.with_extension("sig"), exhibit::keys::sign(&key, bytes)).unwrap();
    common::reseal(env);
}

type Edit = Box<dyn Fn(&str) -> String>;

/// Each edit applied to a fresh archive's own manifest (its own record ID and signer), which is
/// then re-signed and resealed: `verify` and `audit` must refuse it for `why`.
fn refuse_edited_manifests(doc: &[u8], edits: Vec<(&str, Edit, &str)>) {
    for (what, edit, why) in edits {
        let env = Env::new();
        let (id, _) = one_record(&env, doc);
        let genuine = fs::read_to_string(manifest_path(&env, &id)).unwrap();
        let bytes = edit(&genuine);
        assert_ne!(bytes, genuine, "{what}: the edit changed nothing");
        resign(&env, &id, bytes.as_bytes());
        let r = env.run(&["verify", &id]);
        assert_eq!(r.code, 1, "{what}: {}{}", r.stdout, r.stderr);
        let line = r
            .stdout
            .lines()
            .find(|l| l.contains("FAIL "))
            .unwrap_or_else(|| panic!("{what}: no failed check:\n{}{}", r.stdout, r.stderr));
        assert!(
            line.contains("FAIL signature") && line.contains(why),
            "{what}: {line}"
        );
        // Only the signature check (which parses the manifest) fails: the document and the
        // log are as valid as the re-signing made them.
        assert_eq!(r.stdout.matches("FAIL ").count(), 1, "{what}: {}", r.stdout);
        let (code, v) = env.audit(&[]);
        assert_eq!(code, 1, "{what}: {v:#}");
        assert!(
            v["problems"].as_array().unwrap().iter().any(|p| p["path"]
                .as_str()
                .unwrap()
                .contains(&id)
                && p["what"].as_str().unwrap().contains(why)),
            "{what}: audit does not name {id} ({why}): {v:#}"
        );
    }
}

/// A manifest with `http` holding one response header `x-bin` given by `value` (its members
/// as JSON text), in its canonical place.
fn with_header(genuine: &str, value: &str) -> String {
    let at = genuine
        .find(",\"labels\"")
        .unwrap_or_else(|| genuine.find(",\"tool\"").unwrap());
    format!(
        "{},\"http\":{{\"request\":{{\"method\":\"GET\",\"url\":\"https://example.org/terms\",\"headers\":[]}},\"response\":{{\"version\":\"HTTP/1.1\",\"status\":200,\"reason\":\"OK\",\"headers\":[{{\"name\":\"x-bin\",{value}}}]}}}}{}",
        &genuine[..at],
        &genuine[at..]
    )
}

const DOC: &[u8] = b"<html><title>T</title>caf\xc3\xa9</html>";

#[test]
fn manifests_not_in_canonical_form_fail_even_when_signed_and_logged() {
    // The harness itself: the genuine bytes, and a canonical manifest exhibit did not write,
    // re-signed and resealed, verify and audit clean.
    for edit in [
        Box::new(|g: &str| g.to_string()) as Edit,
        Box::new(|g: &str| with_header(g, "\"value_base64\":\"Y2Fm6Q==\"")),
    ] {
        let env = Env::new();
        let (id, _) = one_record(&env, DOC);
        let genuine = fs::read_to_string(manifest_path(&env, &id)).unwrap();
        let bytes = edit(&genuine);
        assert!(Manifest::parse(bytes.as_bytes()).is_ok(), "{bytes}");
        resign(&env, &id, bytes.as_bytes());
        env.ok(&["verify", &id]);
        env.assert_audit_clean();
    }

    let canonical = "not in canonical form";
    refuse_edited_manifests(
        DOC,
        vec![
            (
                "a space after a colon",
                Box::new(|g: &str| g.replacen("\"log_index\":1", "\"log_index\": 1", 1)),
                canonical,
            ),
            (
                "two members swapped",
                Box::new(|g: &str| {
                    g.replacen(
                        "\"requested_url\":\"https://example.org/terms\",\"final_url\":\"https://example.org/terms\"",
                        "\"final_url\":\"https://example.org/terms\",\"requested_url\":\"https://example.org/terms\"",
                        1,
                    )
                }),
                canonical,
            ),
            (
                "an escaped slash",
                Box::new(|g: &str| {
                    g.replacen(
                        "https://example.org/terms",
                        "https:\\/\\/example.org/terms",
                        1,
                    )
                }),
                canonical,
            ),
            (
                "a \\u escape for a plain letter",
                Box::new(|g: &str| {
                    g.replacen("https://example.org", "https://ex\\u0061mple.org", 1)
                }),
                canonical,
            ),
            (
                "an empty labels object",
                Box::new(|g: &str| g.replacen(",\"tool\"", ",\"labels\":{},\"tool\"", 1)),
                canonical,
            ),
            (
                "two final newlines",
                Box::new(|g: &str| format!("{g}\n")),
                canonical,
            ),
            (
                "no final newline",
                Box::new(|g: &str| g.trim_end().to_string()),
                canonical,
            ),
            (
                "a space before the final brace",
                Box::new(|g: &str| format!("{} }}\n", &g[..g.len() - 2])),
                canonical,
            ),
            (
                "a time with +00:00",
                Box::new(|g: &str| g.replacen("Z\",\"signed_at\"", "+00:00\",\"signed_at\"", 1)),
                "captured_at",
            ),
            (
                "a time with fractional seconds",
                Box::new(|g: &str| g.replacen("Z\",\"signed_at\"", ".000Z\",\"signed_at\"", 1)),
                "captured_at",
            ),
            (
                "a time with a lowercase z",
                Box::new(|g: &str| g.replacen("Z\",\"signed_at\"", "z\",\"signed_at\"", 1)),
                "captured_at",
            ),
        ],
    );
}

#[test]
fn header_value_base64_must_be_canonical_and_not_utf8() {
    refuse_edited_manifests(
        DOC,
        vec![
            (
                "padding bits set",
                Box::new(|g: &str| with_header(g, "\"value_base64\":\"Y2Fm6R==\"")),
                "not canonical base64",
            ),
            (
                "padding missing",
                Box::new(|g: &str| with_header(g, "\"value_base64\":\"Y2Fm6Q\"")),
                "not canonical base64",
            ),
            (
                "not base64 at all",
                Box::new(|g: &str| with_header(g, "\"value_base64\":\"caf\u{e9}\"")),
                "not canonical base64",
            ),
            (
                "UTF-8 text in base64",
                Box::new(|g: &str| with_header(g, "\"value_base64\":\"Y2Fmw6k=\"")),
                "holds UTF-8 text",
            ),
        ],
    );
}

/// The library reader itself, on more spellings than the binary tests re-sign: every variant
/// of a valid manifest that is not byte for byte its canonical form is refused, for manifest
/// versions 1 and 2 alike, and the canonical form of each is accepted.
#[test]
fn manifest_parse_accepts_only_the_canonical_form_of_every_version() {
    let v1 = "{\"format\":\"exhibit-manifest/1\",\"record_id\":\"EX-GQN6-420A-ZZ7Q\",\"log_index\":0,\"method\":\"import\",\"requested_url\":\"https://example.org/terms\",\"final_url\":\"https://example.org/terms\",\"captured_at\":\"2026-11-23T03:02:54Z\",\"signed_at\":\"2026-11-23T03:02:54Z\",\"document\":{\"sha256\":\"7b026fd61526c14f244a3f1268080a6b8b5b887061582e49016752ba6c3cd141\",\"size\":95,\"content_type\":\"text/html; charset=utf-8\",\"title\":\"Terms & Conditions\"},\"labels\":{\"entity\":\"Ex\",\"document\":\"Terms\"},\"tool\":{\"name\":\"exhibit\",\"version\":\"0.1.0\"},\"signer\":\"52ef03b1d0c954b5\"}\n";
    let v2 = v1
        .replace("exhibit-manifest/1", "exhibit-manifest/2")
        .replace(
            "\"title\":\"Terms & Conditions\"}",
            "\"title\":\"Tab\\there \\\"q\\\" \\\\ \\u001f \u{7f} caf\u{e9} \u{1f600} /\"}",
        );
    for base in [v1.to_string(), v2] {
        let m = Manifest::parse(base.as_bytes()).unwrap_or_else(|e| panic!("{e}: {base}"));
        assert_eq!(m.to_bytes(), base.as_bytes());
        let variants = [
            base.replacen(":0,", ":-0,", 1),
            base.replacen("\"size\":95", "\"size\":95.0", 1),
            base.replacen("\"size\":95", "\"size\":9.5e1", 1),
            base.replacen("\"size\":95", "\"size\":0095", 1),
            base.replacen("{\"format\"", "{ \"format\"", 1),
            base.replacen("\"Ex\"", "\"\\u0045x\"", 1),
            base.replacen("\"Ex\"", "\"E\\u0078\"", 1),
            base.replacen("\\u001f", "\\u001F", 1),
            base.replacen("\\t", "\\u0009", 1),
            base.replacen("\u{e9}", "\\u00e9", 1),
            base.replacen(
                "https://example.org/terms\",\"final",
                "https:\\/\\/example.org/terms\",\"final",
                1,
            ),
            base.replacen(
                "\"entity\":\"Ex\",\"document\":\"Terms\"",
                "\"document\":\"Terms\",\"entity\":\"Ex\"",
                1,
            ),
            base.replacen("03:02:54Z\",\"signed", "03:02:54+00:00\",\"signed", 1),
            base.replacen("03:02:54Z\",\"signed", "03:02:54.0Z\",\"signed", 1),
            base.replacen(
                "2026-11-23T03:02:54Z\",\"signed",
                "2026-11-23 03:02:54Z\",\"signed",
                1,
            ),
            base.replacen(
                "2026-11-23T03:02:54Z\",\"signed",
                "2026-11-23T04:02:54+01:00\",\"signed",
                1,
            ),
            base.replacen("T03:02:54Z\",\"document", "T03:02:54z\",\"document", 1),
            base.replacen("T03:02:54Z\",\"document", "T23:59:60Z\",\"document", 1),
            base.replacen(",\"labels\"", ",\"http\":null,\"labels\"", 1),
            base.replacen("\n", "\r\n", 1),
            base.replacen("\n", " \n", 1),
            format!("\u{feff}{base}"),
            format!("{base}\n"),
            base.trim_end().to_string(),
        ];
        for v in variants {
            if v == base {
                continue; // a replacement that does not apply to this version
            }
            assert!(Manifest::parse(v.as_bytes()).is_err(), "accepted {v}");
        }
    }
}

/// Key statements (FORMAT.md 7.1.1) follow the same rule: one byte form, canonical times.
#[test]
fn key_statements_accept_only_their_canonical_form() {
    use exhibit::trust::Statement;
    let good = "{\"format\":\"exhibit-key-status/1\",\"key\":\"6d72295dab0339de\",\"status\":\"compromised\",\"since\":\"2026-11-23T04:07:53Z\",\"reason\":\"laptop stolen\"}\n";
    let s = Statement::parse(good.as_bytes()).unwrap();
    assert_eq!(s.to_bytes(), good.as_bytes());
    for bad in [
        good.replacen("04:07:53Z", "04:07:53+00:00", 1),
        good.replacen("04:07:53Z", "04:07:53.5Z", 1),
        good.replacen(
            "\"key\":\"6d72295dab0339de\",\"status\":\"compromised\"",
            "\"status\":\"compromised\",\"key\":\"6d72295dab0339de\"",
            1,
        ),
        good.replacen("{\"format\"", "{ \"format\"", 1),
        good.replacen("laptop", "l\\u0061ptop", 1),
        good.trim_end().to_string(),
        format!("{good}\n"),
    ] {
        assert!(Statement::parse(bad.as_bytes()).is_err(), "accepted {bad}");
    }
}

#[test]
fn checkpoints_and_keys_in_non_canonical_base64_are_refused() {
    let env = Env::new();
    let (id, _) = one_record(&env, b"doc");
    let cp_path = env.archive.join("log/checkpoint");
    let genuine = fs::read_to_string(&cp_path).unwrap();
    // Set a padding bit of the root line (32 bytes: the last symbol before "=" has 2 spare
    // bits): a lenient decoder reads the same root, so the signature would still verify.
    let lines: Vec<&str> = genuine.split('\n').collect();
    let loose_root = set_padding_bit(lines[2]);
    let loose = genuine.replacen(lines[2], &loose_root, 1);
    fs::write(&cp_path, &loose).unwrap();
    let r = env.fails(&["verify", &id], 1);
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(said.contains("canonical"), "{said}");
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 1);
    assert!(v.to_string().contains("canonical"), "{v:#}");
    // The signature line likewise (68 bytes: 2 spare bits).
    let sig = genuine.trim_end().rsplit(' ').next().unwrap();
    let loose = genuine.replacen(sig, &set_padding_bit(sig), 1);
    fs::write(&cp_path, &loose).unwrap();
    env.fails(&["verify", &id], 1);
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 1);
    assert!(v.to_string().contains("canonical"), "{v:#}");
    fs::write(&cp_path, &genuine).unwrap();
    env.assert_audit_clean();

    // A pinned key whose PEM base64 has a padding bit set: a key problem, exit 6.
    let public = fs::read_to_string(exhibit::keys::public_path(&env.key)).unwrap();
    let b64_line = public.lines().nth(1).unwrap();
    let loose_pem = public.replacen(b64_line, &set_padding_bit(b64_line), 1);
    let pinned = env.dir.path().join("loose.pub");
    fs::write(&pinned, loose_pem).unwrap();
    let r = env.fails(
        &["verify", &id, "--trusted-key", pinned.to_str().unwrap()],
        6,
    );
    assert_one_line_error(&r.stderr, "loose.pub");
    let r = env.fails(&["audit", "--trusted-key", pinned.to_str().unwrap()], 6);
    assert_one_line_error(&r.stderr, "loose.pub");
}

fn set_padding_bit(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let at = text.find('=').expect("padded base64") - 1;
    let mut bytes = text.as_bytes().to_vec();
    let pos = ALPHABET.iter().position(|&c| c == bytes[at]).unwrap();
    bytes[at] = ALPHABET[pos | 1];
    let out = String::from_utf8(bytes).unwrap();
    assert_ne!(out, text, "{text} had its padding bit set already");
    out
}

/// FORMAT.md 9.1/9.5: `init` writes a size-0 checkpoint, so a missing checkpoint is damage even
/// in an empty archive, and no writer treats it as an empty log. (Before, the next writer took
/// every committed record for an interrupted write and deleted it, and audit then said OK.)
#[test]
fn a_missing_checkpoint_is_damage_and_stops_writers() {
    let env = Env::new();
    let cp = env.archive.join("log/checkpoint");
    assert!(cp.is_file(), "init writes a checkpoint");
    fs::remove_file(&cp).unwrap();
    let (code, v) = env.audit(&[]);
    assert_eq!(code, 1, "an empty archive without its checkpoint: {v:#}");
    assert!(v.to_string().contains("log/checkpoint"), "{v:#}");

    let env = Env::new();
    let (id, sha) = one_record(&env, b"a committed document");
    fs::remove_file(env.archive.join("log/checkpoint")).unwrap();
    let before = common::files_under(&env.archive);
    let other = env.dir.path().join("other.txt");
    fs::write(&other, b"another document").unwrap();
    let r = env.fails(
        &[
            "import",
            other.to_str().unwrap(),
            "--url",
            "https://example.org/other",
        ],
        7,
    );
    assert_one_line_error(&r.stderr, "checkpoint");
    assert_eq!(
        common::files_under(&env.archive)
            .into_iter()
            .filter(|p| !p.starts_with(env.archive.join("tmp")))
            .collect::<Vec<_>>(),
        before
            .into_iter()
            .filter(|p| !p.starts_with(env.archive.join("tmp")))
            .collect::<Vec<_>>(),
        "the refused write changed the archive"
    );
    assert!(manifest_path(&env, &id).is_file());
    assert!(blob_path(&env, &sha).is_file());
    let (code, _) = env.audit(&[]);
    assert_eq!(code, 1);
}

/// FORMAT.md section 5 is the manifest's specification: its heading and the contents name
/// every manifest version a reader accepts, and the `format` field's row names each of them.
#[test]
fn format_md_section_5_names_every_manifest_version() {
    let format = include_str!("../docs/FORMAT.md");
    let heading = format
        .lines()
        .find(|l| l.starts_with("## 5. "))
        .expect("section 5");
    let contents = format
        .lines()
        .find(|l| l.starts_with("5. Manifests"))
        .expect("section 5 in the contents");
    let row = format
        .lines()
        .find(|l| l.starts_with("| `format`"))
        .expect("the format field's row");
    use exhibit::manifest::{FORMAT, FORMAT_V1, FORMAT_V2, FORMAT_V4, FORMAT_V5};
    let (first, last) = (FORMAT_V1, FORMAT_V5);
    assert_eq!(
        heading,
        format!("## 5. Manifests (`{first}` to `{last}`)"),
        "section 5's heading"
    );
    assert!(
        contents.contains("(`exhibit-manifest/1` to `/5`)"),
        "{contents}"
    );
    for v in [FORMAT_V1, FORMAT_V2, FORMAT, FORMAT_V4, FORMAT_V5] {
        let short = &v[v.len() - 2..];
        assert!(
            row.contains(&format!("`{v}`")) || row.contains(&format!("`{short}`")),
            "the format row does not name {v}: {row}"
        );
    }
}
