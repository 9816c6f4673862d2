//! The checks behind exhibit's fuzz targets: one function per parser of untrusted input, each
//! feeding it arbitrary bytes and asserting what must hold for whatever it accepts (a parse →
//! serialize → parse round trip is stable, canonical forms are the only ones accepted, ...).
//! A panic, an overflow, a hang or a huge allocation in any of them is a bug.
//!
//! This file is the fuzz crate's library (fuzz_targets/*.rs call it) and is also included by
//! path from tests/fuzz_regressions.rs, which runs every file under fuzz/corpus/<target>/ and
//! fuzz/regressions/<target>/ through the same function in the ordinary `cargo test` run. So it
//! must build inside the main crate's tests too: std, the exhibit library and sha2 only.

use exhibit::keys::{PublicKey, SecretKey};
use exhibit::log::merkle::{self, Hash};
use exhibit::log::LeafEntry;
use exhibit::manifest::Manifest;
use exhibit::note::{self, Checkpoint};
use exhibit::record_id::{self, RecordId};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::sync::OnceLock;

/// A target's check: feeds it one input, panics if a property fails.
pub type Check = fn(&[u8]);

/// Every target by name: the name is its directory under fuzz/corpus/ and fuzz/regressions/ and
/// its binary in fuzz/Cargo.toml.
pub const TARGETS: &[(&str, Check)] = &[
    ("manifest", manifest),
    ("record_id", record_id),
    ("note", note),
    ("leaf_line", leaf_line),
    ("proofs", proofs),
    ("blob", blob),
    ("html_title", html_title),
    ("zip", zip),
    ("cdp_message", cdp_message),
    ("warc", warc),
    ("key_statement", key_statement),
    ("serve_request", serve_request),
    ("object_name", object_name),
    ("pack", pack),
    ("segment", segment),
    ("html_text", html_text),
    ("body_decode", body_decode),
    ("citation", citation),
];

/// `Manifest::parse`: it accepts only the canonical byte form (FORMAT.md 5.1, 5.6), so whatever
/// it accepts is exactly what `to_bytes` writes for the parsed manifest; its times are in the
/// one form exhibit writes; and any byte appended or a space inserted makes it malformed.
pub fn manifest(data: &[u8]) {
    let Ok(m) = Manifest::parse(data) else {
        return;
    };
    let bytes = m.to_bytes();
    assert_eq!(
        bytes, data,
        "a manifest was accepted in a non-canonical form"
    );
    let again = Manifest::parse(&bytes).expect("a parsed manifest's own bytes must parse");
    assert_eq!(again, m, "manifest round trip changed it");
    for t in [&m.captured_at, &m.signed_at] {
        assert!(exhibit::manifest::is_canonical_time(t), "{t:?}");
        assert_eq!(t.len(), 20, "{t:?}");
    }
    let mut longer = data.to_vec();
    longer.push(b'\n');
    assert!(
        Manifest::parse(&longer).is_err(),
        "a second final LF accepted"
    );
    let mut spaced = data.to_vec();
    spaced.insert(1, b' ');
    assert!(
        Manifest::parse(&spaced).is_err(),
        "a space after '{{' accepted"
    );
    let _ = m.display_title();
}

/// `RecordId::from_str`, `looks_like_record_id` and `verify::parse_target` (every command's
/// reading of a typed or pasted ID or hash) on arbitrary UTF-8: an accepted ID prints in the
/// canonical 17-character form, which parses back to it, in either case; whatever parses as an
/// ID is that record ID for `parse_target` too (never a hash prefix); twelve hex digits are
/// never a hash prefix unless written `sha256:`.
pub fn record_id(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = record_id::looks_like_record_id(s);
    let target = exhibit::verify::parse_target(s);
    if let Ok(exhibit::verify::Target::Prefix(p)) = &target {
        assert!(
            p.len() != 12 || s.to_ascii_lowercase().contains("sha256:"),
            "{s:?} read as a 12-digit prefix"
        );
    }
    let Ok(id) = s.parse::<RecordId>() else {
        return;
    };
    assert!(
        matches!(target, Ok(exhibit::verify::Target::Record(t)) if t == id),
        "{s:?} parses as {id} but parse_target says {target:?}"
    );
    let canon = id.to_string();
    assert_eq!(canon.len(), 17, "{canon:?}");
    assert_eq!(canon.parse::<RecordId>(), Ok(id), "{canon:?}");
    assert_eq!(
        canon.to_lowercase().parse::<RecordId>(),
        Ok(id),
        "{canon:?}"
    );
    assert!(record_id::looks_like_record_id(&canon), "{canon:?}");
    assert_eq!(RecordId::from_bits(id.bits()), id);
    assert_eq!(id.shard(), canon[3..5]);
}

/// The log's own checkpoint key and the golang.org/x/mod/sumdb/note test key, so the seeds
/// (archive/log/checkpoint, the Go test vector) reach the signature checks.
const TRUSTED_VKEYS: [&str; 2] = [
    "exhibit.local/repository-archive+cb1400df+AT76EQz+YeATirKUSPIB4ZPlXFD/sgw3UNI1oWqAW5rx",
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
];

fn trusted_keys() -> &'static [(String, PublicKey)] {
    static KEYS: OnceLock<Vec<(String, PublicKey)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        TRUSTED_VKEYS
            .iter()
            .map(|k| note::parse_verifier_key(k).expect("fixed verifier key"))
            .collect()
    })
}

/// A fixed signing key for sign → verify round trips of fuzzed text.
fn fuzz_signing_key() -> &'static SecretKey {
    static KEY: OnceLock<SecretKey> = OnceLock::new();
    KEY.get_or_init(|| SecretKey::from_bytes(&[0x5a; 32]))
}

const FUZZ_KEY_NAME: &str = "fuzz.example/key";

/// Longest text the note check also signs and verifies (Ed25519 costs per byte).
const SIGN_LIMIT: usize = 4096;

/// Signed notes, checkpoints and verifier keys: `parse_note`, `verify_note` against fixed keys,
/// `Checkpoint::parse` (strict: only the canonical text is accepted, so `to_text` reproduces the
/// input) and `parse_verifier_key` (the key string round trips).
pub fn note(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    match note::parse_note(s) {
        Ok(parsed) => {
            assert!(parsed.text.ends_with('\n'), "{:?}", parsed.text);
            assert!(parsed.text.len() < s.len());
            assert!(parsed.signatures.len() <= note::MAX_SIGNATURES);
            // The text ends at the last empty line, and every Ed25519 line is in the note in
            // its one canonical spelling (FORMAT.md 2, 9.5).
            assert!(s[parsed.text.len()..].starts_with('\n'));
            assert!(!s[parsed.text.len() + 1..].contains("\n\n"));
            for sig in &parsed.signatures {
                let mut payload = sig.key_hash.to_be_bytes().to_vec();
                payload.extend_from_slice(&sig.signature);
                let line = format!("\u{2014} {} {}\n", sig.name, exhibit::b64::encode(&payload));
                assert!(
                    s.contains(&line),
                    "{line:?} is not spelled canonically in the note"
                );
            }
            if let Ok(verified) = note::verify_note(s, trusted_keys()) {
                assert_eq!(verified.text, parsed.text);
                assert!(!verified.signatures.is_empty());
                for (i, sig) in verified.signatures.iter().enumerate() {
                    assert!(
                        parsed.signatures.contains(sig),
                        "verified {sig:?} not parsed"
                    );
                    assert!(
                        !verified.signatures[..i]
                            .iter()
                            .any(|o| o.name == sig.name && o.key_hash == sig.key_hash),
                        "signer {} counted twice",
                        sig.name
                    );
                }
            }
            checkpoint(&parsed.text);
        }
        Err(e) => {
            // Malformed for parsing is malformed for verifying, whatever the keys.
            assert_eq!(note::verify_note(s, trusted_keys()).map(|_| ()), Err(e));
        }
    }

    checkpoint(s);

    if let Ok((name, key)) = note::parse_verifier_key(s) {
        let printed = note::verifier_key(&name, &key);
        assert_eq!(
            note::parse_verifier_key(&printed),
            Ok((name.clone(), key)),
            "{printed:?}"
        );
        // The only freedom in the accepted spelling is the case of the hash's hex digits.
        let (hash, rest) = s[name.len() + 1..].split_at(8);
        assert_eq!(
            format!("{name}+{}{rest}", hash.to_ascii_lowercase()),
            printed
        );
    }

    if s.len() <= SIGN_LIMIT {
        if let Ok(msg) = note::sign_note(s, FUZZ_KEY_NAME, fuzz_signing_key()) {
            let trusted = [(FUZZ_KEY_NAME.to_owned(), fuzz_signing_key().verifying_key())];
            let verified = note::verify_note(&msg, &trusted).expect("our own signature verifies");
            assert_eq!(verified.text, s, "signed text came back different");
            assert_eq!(verified.signatures.len(), 1);
        }
    }
}

fn checkpoint(text: &str) {
    let Ok(cp) = Checkpoint::parse(text) else {
        return;
    };
    let printed = cp.to_text();
    assert_eq!(Checkpoint::parse(&printed).as_ref(), Ok(&cp), "{printed:?}");
    assert_eq!(printed, text, "a checkpoint has one accepted spelling");
}

/// `LeafEntry::parse`: only the canonical 83-byte line is accepted, so `to_line` reproduces it.
pub fn leaf_line(data: &[u8]) {
    let Some(entry) = LeafEntry::parse(data) else {
        return;
    };
    let line = entry.to_line();
    assert_eq!(line.as_bytes(), data, "{line:?}");
    assert_eq!(LeafEntry::parse(line.as_bytes()), Some(entry));
}

/// Largest tree the proof check also builds for real, to check that honest proofs verify and
/// that no other proof does (beyond this it only costs time).
const PROOF_TREE_LIMIT: u64 = 64;

fn hash_at(data: &[u8], at: usize) -> Hash {
    let mut h = [0u8; 32];
    if let Some(src) = data.get(at..) {
        let n = src.len().min(32);
        h[..n].copy_from_slice(&src[..n]);
    }
    h
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = data.get(at..) {
        let n = src.len().min(8);
        b[..n].copy_from_slice(&src[..n]);
    }
    u64::from_le_bytes(b)
}

/// The proof verifiers on hostile numbers: the input is size (u64 LE), index (u64 LE), root
/// (32 bytes), leaf (32 bytes), then proof hashes (32 bytes each; a short tail is dropped). They
/// must return, never panic. For small sizes a real tree is built too: its honest proofs must
/// verify and the fuzzed proof must not stand in for them.
pub fn proofs(data: &[u8]) {
    let size = u64_at(data, 0);
    let index = u64_at(data, 8);
    let root = hash_at(data, 16);
    let leaf = hash_at(data, 48);
    let proof: Vec<Hash> = data
        .get(80..)
        .unwrap_or_default()
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32-byte chunk"))
        .collect();

    let _ = merkle::check_inclusion(&proof, size, &root, index, &leaf);
    let _ = merkle::check_consistency(&proof, size, &root, index, &leaf);
    let _ = merkle::check_consistency(&proof, index, &leaf, size, &root);

    if size == 0 || size > PROOF_TREE_LIMIT {
        return;
    }
    let leaves: Vec<Hash> = (0..size)
        .map(|i| merkle::leaf_hash(&[&leaf[..], &i.to_le_bytes()].concat()))
        .collect();
    let mut stored: Vec<Hash> = Vec::new();
    let mut builder = merkle::TreeBuilder::new();
    let mut roots = vec![merkle::empty_root()];
    for (n, l) in (0u64..).zip(&leaves) {
        let add = merkle::stored_hashes_for_leaf(n, l, &stored).expect("appending a leaf");
        assert_eq!(
            builder.push(*l),
            add,
            "TreeBuilder disagrees with the log writer"
        );
        stored.extend(add);
        roots.push(builder.root());
    }
    let full = roots[size as usize];
    assert_eq!(full, merkle::root_from_leaves(&leaves));
    assert_eq!(merkle::tree_hash(size, &stored), Ok(full));

    let i = index % size;
    let honest = merkle::prove_inclusion(size, i, &stored).expect("proving inclusion");
    let leaf_i = leaves[i as usize];
    assert_eq!(
        merkle::check_inclusion(&honest, size, &full, i, &leaf_i),
        Ok(()),
        "honest inclusion proof of {i} in {size} rejected"
    );
    if proof != honest {
        assert!(
            merkle::check_inclusion(&proof, size, &full, i, &leaf_i).is_err(),
            "forged inclusion proof of {i} in {size} accepted"
        );
    }

    let old = index % (size + 1);
    let honest = merkle::prove_consistency(size, old, &stored).expect("proving consistency");
    let old_root = roots[old as usize];
    assert_eq!(
        merkle::check_consistency(&honest, size, &full, old, &old_root),
        Ok(()),
        "honest consistency proof {old} -> {size} rejected"
    );
    if proof != honest {
        assert!(
            merkle::check_consistency(&proof, size, &full, old, &old_root).is_err(),
            "forged consistency proof {old} -> {size} accepted"
        );
    }
}

/// Most document bytes the blob check lets a fuzzed blob decompress to. A few bytes of zstd
/// can stand for gigabytes, which says nothing about the reader and only stalls the fuzzer, so
/// past this the output refuses more and the reader must report that as an output error.
const BLOB_OUTPUT_LIMIT: u64 = 64 << 20;

/// Hashes and counts the document bytes `read_blob` writes, up to a limit.
struct CheckedSink {
    hasher: Sha256,
    count: u64,
}

impl Write for CheckedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.count + buf.len() as u64 > BLOB_OUTPUT_LIMIT {
            return Err(io::Error::other("fuzz output limit"));
        }
        self.hasher.update(buf);
        self.count += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The blob reader on hostile files. The first input byte picks the file: even, the rest of the
/// input as it is; odd, the rest followed by a correct exhibit trailer (the skippable frame with
/// the SHA-256 of everything before it), so the fuzzer gets past the checksum, which it could
/// never forge, into the zstd decoding. When the reader accepts a blob, what it wrote must be
/// what it reports.
pub fn blob(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mut file = body.to_vec();
    if mode & 1 == 1 {
        file.extend_from_slice(&[0x5E, 0x2A, 0x4D, 0x18]);
        file.extend_from_slice(&40u32.to_le_bytes());
        file.extend_from_slice(b"EXHBLOB1");
        file.extend_from_slice(&Sha256::digest(body));
    }
    let path = scratch_path();
    std::fs::write(&path, &file).expect("write the fuzzed blob");
    let mut sink = CheckedSink {
        hasher: Sha256::new(),
        count: 0,
    };
    let res = exhibit::store::read_blob(&path, &mut sink);
    std::fs::remove_file(&path).expect("remove the fuzzed blob");
    match res {
        Ok(check) => {
            assert_eq!(
                check.size, sink.count,
                "reported size is not what was written"
            );
            assert_eq!(
                check.sha256,
                hex_lower(&sink.hasher.finalize()),
                "reported hash is not of what was written"
            );
            assert_one_frame_layout(&file);
        }
        Err(exhibit::store::BlobError::Output(e)) => {
            // Our sink only fails at its limit.
            assert!(sink.count > 0, "output error before any output: {e}");
        }
        Err(_) => {}
    }
}

/// An accepted blob is laid out as FORMAT.md 4.2 says: one zstd frame with one of the two
/// headers exhibit writes, then the trailer, so any byte added before the trailer, and any
/// skippable frame put in front, makes it malformed even with a recomputed trailer.
fn assert_one_frame_layout(file: &[u8]) {
    let body = &file[..file.len() - 48];
    assert_eq!(
        body[..4],
        [0x28, 0xB5, 0x2F, 0xFD],
        "not a zstd frame first"
    );
    assert!(
        body[4] == 0x04 || body[4..6] == [0x24, 0x00],
        "frame header {:02x?} is not one exhibit writes",
        &body[4..6]
    );
    let skippable = [0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0];
    for (what, changed) in [
        ("a byte after the frame", [body, &[0u8][..]].concat()),
        (
            "an empty skippable frame after",
            [body, &skippable[..]].concat(),
        ),
        (
            "an empty skippable frame before",
            [&skippable[..], body].concat(),
        ),
    ] {
        let path = scratch_path();
        let mut f = changed.clone();
        f.extend_from_slice(&[0x5E, 0x2A, 0x4D, 0x18]);
        f.extend_from_slice(&40u32.to_le_bytes());
        f.extend_from_slice(b"EXHBLOB1");
        f.extend_from_slice(&Sha256::digest(&changed));
        std::fs::write(&path, &f).expect("write the changed blob");
        let res = exhibit::store::read_blob(&path, &mut io::sink());
        std::fs::remove_file(&path).expect("remove the changed blob");
        assert!(
            matches!(res, Err(exhibit::store::BlobError::Malformed { .. })),
            "{what} accepted: {res:?}"
        );
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file name no other thread or process uses at the same time.
fn scratch_path() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("exhibit-fuzz-blob-{}-{n}.zst", std::process::id()))
}

/// `capture::html_title` with and without an HTML content type: a title, when found, is
/// non-empty, free of control characters and bounded.
pub fn html_title(data: &[u8]) {
    for content_type in [Some("text/html"), None] {
        if let Some(t) = exhibit::capture::html_title(content_type, data) {
            assert!(!t.is_empty());
            assert!(t.chars().count() <= 300, "title of {} chars", t.len());
            assert!(!t.chars().any(char::is_control), "{t:?}");
        }
    }
}

/// The fingerprint's own HTML tokenizer reads any bytes as html5ever's tokenizer does: the same
/// text for the same input, HTML and XHTML (the contract of src/text/html.rs).
pub fn html_text(data: &[u8]) {
    let source = String::from_utf8_lossy(data);
    for xhtml in [false, true] {
        assert_eq!(
            exhibit::text::html_text_fast(&source, xhtml),
            exhibit::text::html_text_reference(&source, xhtml),
            "{source:?}"
        );
    }
}

/// Most content bytes the zip check reads from one fuzzed zip: a few bytes of deflate stand for
/// megabytes, which says nothing about the reader and only stalls the fuzzer.
const ZIP_OUTPUT_LIMIT: u64 = 16 << 20;

/// The strict bundle zip reader (`zipread`) on arbitrary bytes. Whatever it accepts must have
/// one reading: names unique (ignoring case) and safe, members tiling the file from byte 0 in
/// the order returned, each member's content exactly its declared size when read.
pub fn zip(data: &[u8]) {
    use exhibit::zipread;
    let mut r = io::Cursor::new(data);
    let Ok(index) = zipread::read_index(&mut r) else {
        return;
    };
    assert!(index.entries.len() <= zipread::MAX_ENTRIES);
    let mut names = std::collections::HashSet::new();
    let mut pos = 0u64;
    for e in &index.entries {
        assert!(
            names.insert(e.name.to_ascii_lowercase()),
            "{:?} twice",
            e.name
        );
        assert!(
            zipread::safe_name(e.name.trim_end_matches('/')),
            "{:?}",
            e.name
        );
        assert_eq!(e.is_dir, e.name.ends_with('/'));
        assert_eq!(e.header_offset, pos, "members do not tile the file");
        assert!(e.data_offset >= e.header_offset + 30 + e.name.len() as u64);
        assert!(e.data_offset + e.compressed_size <= data.len() as u64);
        if e.method == zipread::Method::Stored {
            assert_eq!(e.compressed_size, e.size);
        }
        pos = e.data_offset + e.compressed_size;
    }
    let mut budget = ZIP_OUTPUT_LIMIT;
    for e in &index.entries {
        if e.size > budget {
            return;
        }
        budget -= e.size;
        let mut reader = zipread::open_entry(&mut r, e).expect("seek in memory");
        let mut out = Vec::new();
        if (&mut reader).take(e.size + 1).read_to_end(&mut out).is_ok() {
            assert_eq!(
                out.len() as u64,
                e.size,
                "{}: read more or less than declared",
                e.name
            );
        }
    }
}

/// The browser engine's DevTools parsers (`capture::browser::{Framer, CdpMessage}`) on what a
/// browser could write to its pipe. The first byte picks the frame limit and the read size; the
/// rest is the stream. However the stream is cut into reads, the same frames come out, none
/// longer than the limit; every accepted message survives `to_frame` -> `parse` unchanged.
pub fn cdp_message(data: &[u8]) {
    use exhibit::capture::browser::{CdpMessage, Framer};
    let Some((&k, stream)) = data.split_first() else {
        return;
    };
    let max = 1 + (k as usize >> 3) * 32;
    let read = 1 + (k as usize & 7);
    let (mut whole, mut chunked) = (Framer::new(max), Framer::new(max));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let one = whole.push(stream, &mut a);
    let mut many = Ok(());
    for c in stream.chunks(read) {
        many = chunked.push(c, &mut b);
        if many.is_err() {
            break;
        }
    }
    assert_eq!(
        one.is_ok(),
        many.is_ok(),
        "a read boundary changed the verdict"
    );
    if one.is_ok() {
        assert_eq!(a, b, "a read boundary changed the frames");
        assert!(whole.pending() <= max);
    }
    assert!(a.iter().all(|f| f.len() <= max), "a frame over the limit");
    for frame in a.iter().map(Vec::as_slice).chain([stream]) {
        if let Ok(m) = CdpMessage::parse(frame) {
            let again = CdpMessage::parse(&m.to_frame()).expect("a parsed message's own frame");
            assert_eq!(again, m, "message round trip changed it");
        }
    }
}

/// The WARC reader (and exhibit's verification of WARC exports) on arbitrary bytes, read as they
/// are and, when the first byte is odd, gzipped first: whatever it accepts was read to the end
/// with every declared digest holding; whatever it refuses is refused with one line. Nothing
/// panics, and memory stays bounded by the reader's limits.
pub fn warc(data: &[u8]) {
    use exhibit::formats::warc::reader::WarcReader;
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let input = if mode & 1 == 1 {
        let mut e = stored_gzip(body);
        e.truncate(e.len() - (mode as usize >> 1) % 3);
        e
    } else {
        body.to_vec()
    };
    let Ok(mut reader) = WarcReader::new(&input[..]) else {
        return;
    };
    reader.want_sha256 = true;
    let mut records = 0u64;
    loop {
        let mut seen = 0u64;
        let got = reader.next(|r| {
            let mut buf = [0u8; 4096];
            loop {
                let n = r
                    .payload
                    .read(&mut buf)
                    .map_err(|e| exhibit::Error::verification(e.to_string()))?;
                if n == 0 {
                    return Ok(());
                }
                seen += n as u64;
            }
        });
        match got {
            Ok(Some(s)) => {
                records += 1;
                assert!(seen <= s.block_len, "read past the block");
                assert!(s.block_sha256.is_some());
            }
            Ok(None) => break,
            Err(e) => {
                assert!(!e.to_string().contains('\n'), "a multi-line error: {e}");
                break;
            }
        }
    }
    let _ = records;
    if let Ok(report) = exhibit::formats::export::verify_warc(&input[..], "fuzz", None) {
        if report.ok {
            assert!(!report.records.is_empty());
        }
    }
    let _ = exhibit::formats::warc::http::HttpHead::parse(body.to_vec());
    let _ = exhibit::formats::surt::surt(&String::from_utf8_lossy(body));
}

/// gzip without depending on flate2 here: one stored-block member, as exhibit's writer lays
/// out its last member.
fn stored_gzip(body: &[u8]) -> Vec<u8> {
    exhibit::formats::warc::writer::stored_member(body)
}

/// Key statements and `log/keys` (trust/statement.rs): a statement is accepted only in its
/// canonical byte form, an `added` one only with the public key its key ID names; `log/keys`
/// is accepted only with canonical lines in strictly increasing log order, and the commitment
/// line the checkpoint carries changes with any byte of it. The first byte picks which.
pub fn key_statement(data: &[u8]) {
    use exhibit::trust::statement::{commitment_line, KeyEventLine, Statement, StatusKind};
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick & 1 == 0 {
        let Ok(st) = Statement::parse(rest) else {
            return;
        };
        assert_eq!(
            st.to_bytes(),
            rest,
            "an accepted statement is its canonical bytes"
        );
        if st.status == StatusKind::Added {
            let key = st.public_key().expect("an added statement carries a key");
            assert_eq!(exhibit::keys::key_id(&key), st.key);
        } else {
            assert!(st.public_key.is_none());
        }
    } else {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let Ok(lines) = KeyEventLine::parse_file(text) else {
            return;
        };
        let again: String = lines.iter().map(|l| l.to_line()).collect();
        assert_eq!(again, text, "accepted log/keys is its canonical lines");
        assert!(lines.windows(2).all(|w| w[0].index < w[1].index));
        if !text.is_empty() {
            let mut other = text.as_bytes().to_vec();
            let i = other.len() / 2;
            other[i] ^= 1;
            if let Ok(o) = std::str::from_utf8(&other) {
                assert_ne!(commitment_line(text), commitment_line(o));
            }
        }
    }
}

/// What the web viewer reads of a request besides hyper's own parsing: a `Host` header (it
/// builds the documents' origin from it, so whatever passes must be a bare host name or address
/// that cannot change the URL or a header it is put in), `If-None-Match` lists, and the record
/// ID or hash in a path (the CLI's parser, which must never panic on a web client's bytes).
/// Input: the Host value, a newline, the If-None-Match value, a newline, a path segment.
pub fn serve_request(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = s.splitn(3, '\n');
    let host = parts.next().unwrap_or("");
    let inm = parts.next().unwrap_or("");
    let segment = parts.next().unwrap_or("");
    if let Some(h) = exhibit::serve::host_of(host) {
        assert!(!h.is_empty() && h.len() <= 253, "{host:?} -> {h:?}");
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b)),
            "{host:?} -> {h:?}"
        );
        assert!(
            !h.contains(':') || (h.starts_with('[') && h.ends_with(']')),
            "{host:?} -> {h:?}: a port or stray colon passed"
        );
        assert_eq!(h, h.to_ascii_lowercase());
    }
    // A replay host names one record ID's spelling, or nothing (the ID is then checked in full).
    if let Some(id) = exhibit::serve::replay_record(host) {
        assert!(
            id.len() == 17 && id.starts_with("EX-"),
            "{host:?} -> {id:?}"
        );
        assert_eq!(id, id.to_ascii_uppercase());
    }
    let tag = format!("\"{}\"", segment.len());
    let listed = exhibit::serve::etag_listed(std::iter::once(inm), &tag);
    if inm.split(',').any(|t| t.trim() == "*") {
        assert!(listed, "{inm:?}: * matches everything");
    }
    assert!(exhibit::serve::etag_listed(
        std::iter::once(tag.as_str()),
        &tag
    ));
    let _ = exhibit::verify::parse_target(segment);
    // A tile path (GET /tile/...) parses only in the one spelling it is written in, and names
    // stored hashes only within a tree that holds it.
    if let Some(t) = exhibit::log::tiles::Tile::parse(segment) {
        assert_eq!(t.path(), segment);
        assert!(t.width >= 1 && t.width <= 256);
        if t.index < 1 << 20 && t.level < 3 {
            let idx = t.stored_indexes();
            assert_eq!(idx.len(), usize::from(t.width));
            assert!(idx.windows(2).all(|w| w[0] < w[1]), "{segment:?}");
        }
    }
}

/// Names listed by an object store (which anyone with write access to the bucket may choose) and
/// archive locations: an object `mirror` takes for archive content is always a plain relative
/// name inside the prefix, and a refused location never repeats its credentials.
pub fn object_name(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if exhibit::archive::objects::classify(s).is_some() {
        assert!(
            exhibit::archive::backend::check_name(s).is_ok(),
            "{s:?} is content but not a valid object name"
        );
        assert!(
            !s.starts_with('/') && !s.split('/').any(|p| p.is_empty() || p == "." || p == "..")
        );
    }
    if let Err(e) = exhibit::archive::location::parse(s) {
        if let Some((_, rest)) = s.split_once("://") {
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            if let Some(at) = authority.rfind('@') {
                let secret = &authority[..at];
                if secret.len() >= 4 {
                    assert!(!e.to_string().contains(secret), "{s:?} -> {e}");
                }
            }
        }
    }
}

/// `pack::Footer::read` over arbitrary bytes (and the layout's line parsers, [`pack_lines`]):
/// whatever it accepts is exactly what the writer would write for those entries (the footer and trailer re-serialize to the input's tail), the
/// entries tile every byte before the footer, and each is found again by its kind and key.
pub fn pack(data: &[u8]) {
    use exhibit::core::pack::{Footer, LINE, TRAILER};
    pack_lines(data);
    let len = data.len() as u64;
    let Ok(footer) = Footer::read(&mut io::Cursor::new(data), len) else {
        return;
    };
    let mut tail = String::new();
    for e in &footer.entries {
        tail.push_str(&e.line());
    }
    tail.push_str(&format!(
        "exhibit-pack/1 {:010} {:016}\n",
        footer.entries.len(),
        footer.footer_offset
    ));
    assert_eq!(tail.as_bytes(), &data[footer.footer_offset as usize..]);
    assert_eq!(
        len,
        footer.footer_offset + footer.entries.len() as u64 * LINE + TRAILER
    );
    let covered: u64 = footer.entries.iter().map(|e| e.len).sum();
    assert_eq!(covered, footer.footer_offset);
    for e in &footer.entries {
        assert_eq!(footer.find(e.kind, &e.key), Some(e));
    }
}

/// The other fixed-width lines of the packed layout, from the same inputs: a `log/places` line,
/// a `log/legacy-ids` line and a reference entry each accept one spelling only, the one they
/// print again.
fn pack_lines(data: &[u8]) {
    use exhibit::core::pack::Reference;
    if let Some(sha) = exhibit::archive::parse_place(data) {
        assert_eq!(format!("{sha}\n").as_bytes(), data);
    }
    if let Some((id, index)) = exhibit::archive::parse_legacy(data) {
        assert_eq!(
            exhibit::archive::migrate::legacy_line(&id, index).as_bytes(),
            data
        );
    }
    if let Some(r) = Reference::parse(data) {
        assert_eq!(r.to_bytes().as_bytes(), data);
    }
}

/// `Segment::parse` and `lease_until` (an object-storage log segment and the lease, FORMAT.md
/// 3.4, read from a store anyone with
/// write access to the bucket controls): never panics whatever the lengths say; what it accepts
/// is exactly what `to_bytes` writes again, its parts have the lengths its tree sizes fix, and
/// its name parses back to its tree.
pub fn segment(data: &[u8]) {
    use exhibit::archive::remote::{lease_until, Segment};
    use exhibit::log::{merkle, LEAF_LINE};
    // The lease object of the same store: any bytes are a time or "run out" (0).
    let _ = lease_until(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some((size, root)) = Segment::parse_name(text) {
            assert_eq!(Segment::object_name(size, &root), text);
        }
    }
    let Ok(seg) = Segment::parse(data) else {
        return;
    };
    assert_eq!(seg.to_bytes(), data);
    assert!(seg.to > seg.from);
    assert_eq!(seg.leaves.len() as u64, (seg.to - seg.from) * LEAF_LINE);
    assert_eq!(
        seg.hashes.len() as u64,
        (merkle::stored_hash_count(seg.to) - merkle::stored_hash_count(seg.from)) * 32
    );
    assert_eq!(
        Segment::parse_name(&seg.name()),
        Some((seg.to, seg.to_root))
    );
}

/// A response body through capture's decoders (`capture::decode_body_for_fuzzing`), the first
/// byte choosing the Content-Encoding. Whatever the bytes: no panic, and a body exhibit takes
/// is exactly what the encoding's own library decoder makes of the whole body (identity: the
/// bytes themselves), so a truncated or trailing-garbage body is never stored as a document;
/// zstd frames asking for a window over 8 MiB are never taken.
pub fn body_decode(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let encodings = [
        None,
        Some("gzip"),
        Some("deflate"),
        Some("br"),
        Some("zstd"),
    ];
    let encoding = encodings[mode as usize % encodings.len()];
    let dir = scratch_path();
    std::fs::create_dir(&dir).expect("create the scratch directory");
    let max_size = 1 << 20;
    let res = exhibit::capture::decode_body_for_fuzzing(encoding, body, &dir, max_size);
    std::fs::remove_dir_all(&dir).expect("remove the scratch directory");
    let Ok((sha256, size, wire)) = res else {
        return;
    };
    assert_eq!(wire, body.len() as u64, "the wire count is not the body");
    assert!(size <= max_size, "a document over the size limit was taken");
    let mut reference = Vec::new();
    let read = match encoding {
        None => {
            reference.extend_from_slice(body);
            Ok(0)
        }
        Some("gzip") => flate2::read::MultiGzDecoder::new(body).read_to_end(&mut reference),
        Some("deflate") => flate2::read::ZlibDecoder::new(body).read_to_end(&mut reference),
        Some("br") => brotli::Decompressor::new(body, 4096).read_to_end(&mut reference),
        Some(_) => zstd::stream::read::Decoder::new(body).and_then(|mut d| {
            d.window_log_max(23)?;
            d.read_to_end(&mut reference)
        }),
    };
    read.unwrap_or_else(|e| panic!("exhibit took a {encoding:?} body its decoder refuses: {e}"));
    assert_eq!(size, reference.len() as u64, "{encoding:?}: another size");
    assert_eq!(
        sha256.to_string(),
        hex_lower(&Sha256::digest(&reference)),
        "{encoding:?}: another document"
    );
}

/// `cite_check::stated`, the reader of pasted citations (`verify --citation`): every fact it
/// reads is well formed (a record ID that parses to itself, 64 lower-case hex digits, a time in
/// the one form it compares, a URL with a scheme and no space), and reading a text again made of
/// only those facts finds them all again.
pub fn citation(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let s = exhibit::cite_check::stated(&text);
    for id in &s.record_ids {
        let parsed: RecordId = id.parse().expect("a stated record ID parses");
        assert_eq!(&parsed.to_string(), id);
    }
    for h in &s.sha256 {
        assert!(
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{h:?}"
        );
    }
    for t in &s.times {
        assert!(t.len() >= 23 && t.ends_with(" UTC"), "{t:?}");
    }
    for u in &s.urls {
        assert!(
            u.starts_with("http://") || u.starts_with("https://"),
            "{u:?}"
        );
        assert!(!u.chars().any(char::is_whitespace), "{u:?}");
    }
    let facts: Vec<&String> = s
        .record_ids
        .iter()
        .chain(&s.sha256)
        .chain(&s.times)
        .collect();
    let again = exhibit::cite_check::stated(
        &facts
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(" ; "),
    );
    assert_eq!(again.record_ids, s.record_ids);
    assert_eq!(again.sha256, s.sha256);
    assert_eq!(again.times, s.times);
}
