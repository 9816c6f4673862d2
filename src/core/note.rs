//! Signed notes (c2sp.org/signed-note) and transparency-log checkpoints
//! (c2sp.org/tlog-checkpoint), restricted to Ed25519 keys (signature type 0x01).
//!
//! The wire format is the one golang.org/x/mod/sumdb/note and the C2SP
//! witness ecosystem use, so checkpoints signed here can be checked by
//! existing tools and cosigned by existing witnesses.

use crate::b64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type byte the signed-note spec assigns to Ed25519.
const ALG_ED25519: u8 = 0x01;

/// Em dash (U+2014) and a space: the start of every signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// 4-byte key hash followed by a 64-byte Ed25519 signature.
const ED25519_SIG_LEN: usize = 4 + 64;

/// Most signature lines a note may carry.
///
/// The spec requires accepting at least 16; the reference implementation
/// stops at 100. A bound keeps a hostile note from costing unbounded
/// verification work.
pub const MAX_SIGNATURES: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    #[error("invalid key name {0:?}: a key name must be non-empty and contain no spaces, control characters or '+'")]
    InvalidKeyName(String),
    #[error("bad verifier key: {0}")]
    BadVerifierKey(&'static str),
    #[error("verifier key uses signature type 0x{0:02x}; only Ed25519 (0x01) is supported")]
    UnsupportedAlgorithm(u8),
    #[error(
        "verifier key hash {found:08x} does not match its name and key (expected {expected:08x})"
    )]
    VerifierKeyHashMismatch { found: u32, expected: u32 },
    #[error("note has no signature by a trusted key")]
    NoKnownSignature,
    #[error("invalid signature by trusted key {name}+{key_hash:08x}")]
    InvalidSignature { name: String, key_hash: u32 },
    #[error("ambiguous trusted keys: two different keys are named {name}+{key_hash:08x}")]
    AmbiguousKey { name: String, key_hash: u32 },
}

/// Key hash = first 4 bytes of SHA-256(name || 0x0A || 0x01 || 32-byte public key), big-endian.
pub fn key_hash(name: &str, public: &VerifyingKey) -> u32 {
    let mut encoded = [0u8; 33];
    encoded[0] = ALG_ED25519;
    encoded[1..].copy_from_slice(public.as_bytes());
    hash_encoded_key(name, &encoded)
}

/// The hash is defined over the encoded key (type byte included), which is
/// what a verifier key string carries, so parsing can check it before
/// knowing whether the algorithm is one we support.
fn hash_encoded_key(name: &str, encoded: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(encoded);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The signed-note verifier key string: `name+hash(8 lowercase hex)+base64(0x01 || pubkey)`.
///
/// `name` should satisfy the key-name rules (non-empty, no spaces, no '+');
/// otherwise the result will not parse back.
pub fn verifier_key(name: &str, public: &VerifyingKey) -> String {
    let mut encoded = Vec::with_capacity(33);
    encoded.push(ALG_ED25519);
    encoded.extend_from_slice(public.as_bytes());
    format!(
        "{name}+{:08x}+{}",
        key_hash(name, public),
        b64::encode(encoded)
    )
}

/// Parses a verifier key string, checking that the embedded hash matches the
/// name and key.
pub fn parse_verifier_key(s: &str) -> Result<(String, VerifyingKey), NoteError> {
    let (name, rest) = s
        .split_once('+')
        .ok_or(NoteError::BadVerifierKey("expected the form name+hash+key"))?;
    let (hash16, key64) = rest
        .split_once('+')
        .ok_or(NoteError::BadVerifierKey("expected the form name+hash+key"))?;
    if !is_valid_name(name) {
        return Err(NoteError::BadVerifierKey("invalid key name"));
    }
    // from_str_radix alone would accept a sign and other lengths.
    if hash16.len() != 8 || !hash16.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::BadVerifierKey(
            "key hash must be 8 hexadecimal digits",
        ));
    }
    let found = u32::from_str_radix(hash16, 16)
        .map_err(|_| NoteError::BadVerifierKey("key hash must be 8 hexadecimal digits"))?;
    let encoded = b64::decode(key64).ok_or(NoteError::BadVerifierKey(
        "key is not canonical padded standard base64",
    ))?;
    let (&alg, raw) = encoded
        .split_first()
        .ok_or(NoteError::BadVerifierKey("key is empty"))?;
    if alg != ALG_ED25519 {
        return Err(NoteError::UnsupportedAlgorithm(alg));
    }
    let raw: &[u8; 32] = raw
        .try_into()
        .map_err(|_| NoteError::BadVerifierKey("Ed25519 public key must be 32 bytes"))?;
    let expected = hash_encoded_key(name, &encoded);
    if found != expected {
        return Err(NoteError::VerifierKeyHashMismatch { found, expected });
    }
    let key = VerifyingKey::from_bytes(raw)
        .map_err(|_| NoteError::BadVerifierKey("not a valid Ed25519 public key"))?;
    // A small-order key admits signatures that verify for many messages;
    // no honest signer produces one.
    if key.is_weak() {
        return Err(NoteError::BadVerifierKey(
            "weak (small-order) Ed25519 public key",
        ));
    }
    Ok((name.to_owned(), key))
}

/// Key names must be non-empty with no Unicode spaces or '+' (spec). Control
/// characters are refused too since they can never appear inside a note.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || c < ' ')
}

fn check_no_control_chars(s: &str) -> bool {
    !s.chars().any(|c| c < ' ' && c != '\n')
}

/// Signs note text and returns the full signed note:
/// `text + "\n" + "— name base64(keyhash(4, BE) || signature(64))\n"`.
///
/// The text must be non-empty, end with '\n', and contain no control
/// characters other than '\n' (so no '\r').
pub fn sign_note(text: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    if text.is_empty() {
        return Err(NoteError::MalformedNote("note text is empty"));
    }
    if !text.ends_with('\n') {
        return Err(NoteError::MalformedNote(
            "note text must end with a newline",
        ));
    }
    if !check_no_control_chars(text) {
        return Err(NoteError::MalformedNote(
            "note text contains a control character other than newline",
        ));
    }
    if !is_valid_name(name) {
        return Err(NoteError::InvalidKeyName(name.to_owned()));
    }
    let sig = key.sign(text.as_bytes());
    let mut payload = Vec::with_capacity(ED25519_SIG_LEN);
    payload.extend_from_slice(&key_hash(name, &key.verifying_key()).to_be_bytes());
    payload.extend_from_slice(&sig.to_bytes());
    Ok(format!(
        "{text}\n{SIG_PREFIX}{name} {}\n",
        b64::encode(payload)
    ))
}

/// One Ed25519-shaped signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub key_hash: u32,
    pub signature: [u8; 64],
}

/// A parsed note. `text` includes its final newline but not the blank line
/// that separates it from the signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<Signature>,
}

/// A signature line before we know which algorithm made it: other
/// algorithms (witness cosignatures, ECDSA, post-quantum) have other lengths
/// and must still be tolerated.
struct RawSignature<'a> {
    name: &'a str,
    key_hash: u32,
    bytes: Vec<u8>,
}

fn parse_raw(msg: &str) -> Result<(&str, Vec<RawSignature<'_>>), NoteError> {
    if !check_no_control_chars(msg) {
        return Err(NoteError::MalformedNote(
            "note contains a control character other than newline",
        ));
    }
    // The text may itself contain blank lines; signature lines never do, so
    // the last blank line is the separator.
    let split = msg.rfind("\n\n").ok_or(NoteError::MalformedNote(
        "no blank line separates the text from the signatures",
    ))?;
    let text = &msg[..split + 1];
    let block = &msg[split + 2..];
    if block.is_empty() {
        return Err(NoteError::MalformedNote("note has no signature lines"));
    }
    let block = block.strip_suffix('\n').ok_or(NoteError::MalformedNote(
        "the last signature line must end with a newline",
    ))?;
    let mut sigs = Vec::new();
    for (i, line) in block.split('\n').enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(NoteError::MalformedNote("too many signature lines"));
        }
        sigs.push(parse_signature_line(line)?);
    }
    Ok((text, sigs))
}

fn parse_signature_line(line: &str) -> Result<RawSignature<'_>, NoteError> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(NoteError::MalformedNote(
            "signature line does not start with an em dash (U+2014) and a space",
        ))?;
    let (name, text) = rest.split_once(' ').ok_or(NoteError::MalformedNote(
        "signature line has no space between key name and signature",
    ))?;
    if !is_valid_name(name) {
        return Err(NoteError::MalformedNote(
            "signature line has an invalid key name",
        ));
    }
    let bytes = b64::decode(text).ok_or(NoteError::MalformedNote(
        "signature is not canonical padded standard base64",
    ))?;
    // A key hash and at least one byte of signature.
    if bytes.len() < 5 {
        return Err(NoteError::MalformedNote("signature is too short"));
    }
    let key_hash = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    Ok(RawSignature {
        name,
        key_hash,
        bytes,
    })
}

fn to_ed25519(raw: &RawSignature<'_>) -> Option<Signature> {
    let signature: [u8; 64] = raw.bytes.get(4..)?.try_into().ok()?;
    Some(Signature {
        name: raw.name.to_owned(),
        key_hash: raw.key_hash,
        signature,
    })
}

/// Parses a signed note without verifying anything.
///
/// Every signature line is checked for syntax, but only lines whose payload
/// has the Ed25519 shape (4 + 64 bytes) are returned; lines from other
/// algorithms could never be checked by an Ed25519 key and are skipped.
pub fn parse_note(msg: &str) -> Result<Note, NoteError> {
    let (text, raws) = parse_raw(msg)?;
    Ok(Note {
        text: text.to_owned(),
        signatures: raws.iter().filter_map(to_ed25519).collect(),
    })
}

/// Verifies a signed note against trusted `(name, key)` pairs, by the
/// acceptance rule of docs/FORMAT.md section 9.5 (Go's note.Open):
///
/// 1. the note parses: the last empty line separates text and signatures,
///    and every signature line is well formed (a malformed line rejects the
///    whole note, whoever made it);
/// 2. a line *matches* a trusted key when its key name equals the key's name
///    and its key hash equals the hash of that name and key; neither alone
///    is enough;
/// 3. every matching line must be a valid Ed25519 signature of the text
///    (68 bytes, strict verification), or the whole note is rejected; this
///    includes each copy of a repeated line;
/// 4. lines that match no trusted key are ignored, whatever their length;
/// 5. at least one line must match.
///
/// The returned note lists only verified signatures, one per trusted key,
/// so counting them counts distinct signers.
pub fn verify_note(msg: &str, keys: &[(String, VerifyingKey)]) -> Result<Note, NoteError> {
    let (text, raws) = parse_raw(msg)?;
    let trusted: Vec<(&str, u32, &VerifyingKey)> = keys
        .iter()
        .map(|(name, key)| (name.as_str(), key_hash(name, key), key))
        .collect();
    let mut verified: Vec<Signature> = Vec::new();
    for raw in &raws {
        let mut matching = trusted
            .iter()
            .filter(|(name, hash, _)| *name == raw.name && *hash == raw.key_hash);
        let Some(&(_, _, key)) = matching.next() else {
            continue;
        };
        if matching.any(|(_, _, other)| *other != key) {
            return Err(NoteError::AmbiguousKey {
                name: raw.name.to_owned(),
                key_hash: raw.key_hash,
            });
        }
        let invalid = || NoteError::InvalidSignature {
            name: raw.name.to_owned(),
            key_hash: raw.key_hash,
        };
        let sig = to_ed25519(raw).ok_or_else(invalid)?;
        // Strict verification refuses small-order components and
        // non-canonical encodings, which closes signature malleability.
        key.verify_strict(
            text.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&sig.signature),
        )
        .map_err(|_| invalid())?;
        if !verified
            .iter()
            .any(|v| v.name == sig.name && v.key_hash == sig.key_hash)
        {
            verified.push(sig);
        }
    }
    if verified.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(Note {
        text: text.to_owned(),
        signatures: verified,
    })
}

/// The IDs of those of `keys` (each an ID and a key) whose signature, under `origin`, on the
/// signed note `msg` verifies: who signed a checkpoint, for reports and for what travels with
/// it. Says nothing about whether those signatures count; that is trust/'s question.
pub fn signed_by(msg: &str, origin: &str, keys: &[(String, VerifyingKey)]) -> Vec<String> {
    keys.iter()
        .filter(|(_, k)| verify_note(msg, &[(origin.to_string(), *k)]).is_ok())
        .map(|(id, _)| id.clone())
        .collect()
}

/// The body of a tlog checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
    /// Opaque, non-empty lines after the root hash.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// `origin\nsize\nbase64(root)\n` followed by one line per extension.
    ///
    /// Parses back to `self` as long as the origin and extensions are
    /// non-empty and free of control characters.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            b64::encode(self.root)
        );
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// Parses checkpoint note text (the `text` of a [`Note`]), strictly.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        if !check_no_control_chars(text) {
            return Err(NoteError::MalformedCheckpoint(
                "contains a control character other than newline",
            ));
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::MalformedCheckpoint(
                "text must end with a newline",
            ))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(NoteError::MalformedCheckpoint("origin line is empty"));
        }
        let size = parse_size(
            lines
                .next()
                .ok_or(NoteError::MalformedCheckpoint("missing tree size line"))?,
        )?;
        let root = parse_root(
            lines
                .next()
                .ok_or(NoteError::MalformedCheckpoint("missing root hash line"))?,
        )?;
        let extensions = lines
            .map(|l| {
                if l.is_empty() {
                    Err(NoteError::MalformedCheckpoint(
                        "extension lines must not be empty",
                    ))
                } else {
                    Ok(l.to_owned())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// One canonical spelling per size: otherwise two different texts (and so
/// two different signed checkpoints) would describe the same tree head.
fn parse_size(line: &str) -> Result<u64, NoteError> {
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NoteError::MalformedCheckpoint(
            "tree size must be a decimal number",
        ));
    }
    if line.len() > 1 && line.starts_with('0') {
        return Err(NoteError::MalformedCheckpoint(
            "tree size must not have leading zeros",
        ));
    }
    line.parse()
        .map_err(|_| NoteError::MalformedCheckpoint("tree size does not fit in 64 bits"))
}

fn parse_root(line: &str) -> Result<[u8; 32], NoteError> {
    let bytes = b64::decode(line).ok_or(NoteError::MalformedCheckpoint(
        "root hash is not canonical padded standard base64",
    ))?;
    bytes
        .try_into()
        .map_err(|_| NoteError::MalformedCheckpoint("root hash must be 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Independent vectors from golang/mod, sumdb/note/note_test.go (commit
    // 02c991387e35f9e4c0a9b7ce137717055f8d716d): TestNewVerifier, TestSign,
    // TestVerifierList and TestOpen.
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    // The same file's signer key "PRIVATE+KEY+PeterNeumann+c74f20a3+<this>":
    // base64(0x01 || Ed25519 seed).
    const PETER_SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    // Spec examples from C2SP/C2SP: signed-note.md (commit
    // 055287621bf3cd13ff4394418a3e8efc2d5e8ed7) and tlog-checkpoint.md
    // (commit 2793893976c835db049c194d8f2c4f946dcb70ba). Their public keys
    // are not published, so they are only parsed.
    const SPEC_NOTE: &str = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    const SPEC_CHECKPOINT: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    fn peter() -> (String, VerifyingKey) {
        parse_verifier_key(PETER_VKEY).unwrap()
    }

    fn enoch() -> (String, VerifyingKey) {
        parse_verifier_key(ENOCH_VKEY).unwrap()
    }

    fn peter_signing_key() -> SigningKey {
        let raw = b64::decode(PETER_SKEY_B64).unwrap();
        assert_eq!(raw[0], ALG_ED25519);
        SigningKey::from_bytes(&raw[1..].try_into().unwrap())
    }

    fn random_key() -> SigningKey {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).unwrap();
        SigningKey::from_bytes(&seed)
    }

    fn peter_note() -> String {
        format!("{TEXT}\n{PETER_SIG}")
    }

    #[test]
    fn go_vector_verifier_key_and_hash() {
        let (name, key) = peter();
        assert_eq!(name, "PeterNeumann");
        assert_eq!(key_hash(&name, &key), 0xc74f20a3);
        assert_eq!(verifier_key(&name, &key), PETER_VKEY);
        assert_eq!(
            peter_signing_key().verifying_key(),
            key,
            "the published signer key must derive the published verifier key"
        );
        let (name, key) = enoch();
        assert_eq!(key_hash(&name, &key), 0xaf0cfe78);
        assert_eq!(verifier_key(&name, &key), ENOCH_VKEY);
    }

    #[test]
    fn go_vector_note_verifies() {
        let note = verify_note(&peter_note(), &[peter()]).unwrap();
        assert_eq!(note.text, TEXT);
        assert_eq!(note.signatures.len(), 1);
        assert_eq!(note.signatures[0].name, "PeterNeumann");
        assert_eq!(note.signatures[0].key_hash, 0xc74f20a3);
    }

    #[test]
    fn go_vector_signing_is_byte_identical() {
        // Ed25519 is deterministic, so our output must match Go's exactly.
        let signed = sign_note(TEXT, "PeterNeumann", &peter_signing_key()).unwrap();
        assert_eq!(signed, peter_note());
    }

    #[test]
    fn go_vector_doubly_signed() {
        let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        assert_eq!(parse_note(&msg).unwrap().signatures.len(), 2);
        assert_eq!(verify_note(&msg, &[peter()]).unwrap().signatures.len(), 1);
        let only_enoch = verify_note(&msg, &[enoch()]).unwrap();
        assert_eq!(only_enoch.signatures[0].name, "EnochRoot");
        assert_eq!(
            verify_note(&msg, &[peter(), enoch()])
                .unwrap()
                .signatures
                .len(),
            2
        );
        assert_eq!(verify_note(&msg, &[]), Err(NoteError::NoKnownSignature));
    }

    #[test]
    fn go_vector_mangled_verifier_keys_rejected() {
        let b = PETER_VKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i == 0 && j == b.len() {
                    continue;
                }
                let s = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(parse_verifier_key(s).is_err(), "accepted {s:?}");
            }
        }
        let mut m = b.to_vec();
        for i in 0..m.len() {
            m[i] += 1;
            let s = std::str::from_utf8(&m).unwrap();
            assert!(parse_verifier_key(s).is_err(), "accepted {s:?}");
            m[i] -= 1;
        }
        // Also from TestNewVerifier: wrong key length and unknown algorithm,
        // each with a hash adjusted to match.
        for k in [
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ] {
            assert!(parse_verifier_key(k).is_err(), "accepted {k:?}");
        }
    }

    #[test]
    fn verifier_key_specific_errors() {
        let (_, key) = peter();
        let mut encoded = vec![0x02];
        encoded.extend_from_slice(key.as_bytes());
        let other_alg = format!(
            "PeterNeumann+{:08x}+{}",
            hash_encoded_key("PeterNeumann", &encoded),
            b64::encode(&encoded)
        );
        assert_eq!(
            parse_verifier_key(&other_alg),
            Err(NoteError::UnsupportedAlgorithm(2))
        );
        encoded[0] = ALG_ED25519;
        encoded.push(0);
        let long = format!(
            "PeterNeumann+{:08x}+{}",
            hash_encoded_key("PeterNeumann", &encoded),
            b64::encode(&encoded)
        );
        assert!(matches!(
            parse_verifier_key(&long),
            Err(NoteError::BadVerifierKey(_))
        ));
        let wrong_hash = PETER_VKEY.replace("c74f20a3", "c74f20a4");
        assert_eq!(
            parse_verifier_key(&wrong_hash),
            Err(NoteError::VerifierKeyHashMismatch {
                found: 0xc74f20a4,
                expected: 0xc74f20a3
            })
        );
        // Uppercase hex is still the same hash.
        assert!(parse_verifier_key(&PETER_VKEY.replace("c74f20a3", "C74F20A3")).is_ok());
        // The identity point is a small-order key.
        let mut weak = vec![ALG_ED25519, 1];
        weak.extend_from_slice(&[0; 31]);
        let weak = format!(
            "w+{:08x}+{}",
            hash_encoded_key("w", &weak),
            b64::encode(&weak)
        );
        assert!(matches!(
            parse_verifier_key(&weak),
            Err(NoteError::BadVerifierKey(_))
        ));
    }

    #[test]
    fn go_vector_malformed_messages() {
        let bad = [
            TEXT.to_owned(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", PETER_SIG.trim_end_matches('\n')),
            format!("\x01{TEXT}\n{PETER_SIG}"),
            format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
            format!("{TEXT}\n{}", PETER_SIG.replace('—', "-")),
            format!("{TEXT}\n{}", PETER_SIG.replace("=\n", "\n")),
            format!("{TEXT}\r\n{PETER_SIG}"),
            format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1)),
            String::new(),
        ];
        for msg in &bad {
            assert!(
                matches!(parse_note(msg), Err(NoteError::MalformedNote(_))),
                "parsed {msg:?}"
            );
            assert!(
                matches!(
                    verify_note(msg, &[peter()]),
                    Err(NoteError::MalformedNote(_))
                ),
                "verified {msg:?}"
            );
        }
        // Up to the limit is fine.
        let many = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES));
        assert_eq!(verify_note(&many, &[peter()]).unwrap().signatures.len(), 1);
    }

    #[test]
    fn go_vector_corrupted_signatures() {
        // From TestOpen: four characters spliced into a known key's signature.
        let spliced = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert_eq!(
            verify_note(&spliced, &[peter()]),
            Err(NoteError::InvalidSignature {
                name: "PeterNeumann".into(),
                key_hash: 0xc74f20a3
            })
        );
        // A changed key hash makes it a different, unknown key.
        let wrong_hash = format!("{TEXT}\n{}", PETER_SIG.replace("x08g", "xxxx"));
        assert_eq!(
            verify_note(&wrong_hash, &[peter()]),
            Err(NoteError::NoKnownSignature)
        );
        // So does a changed name.
        let renamed = format!(
            "{TEXT}\n{}",
            PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
        );
        assert_eq!(
            verify_note(&renamed, &[peter()]),
            Err(NoteError::NoKnownSignature)
        );
        // A valid signature does not excuse a bad one from the same key.
        let mixed = format!(
            "{TEXT}\n{PETER_SIG}{}ABCD{}",
            &PETER_SIG[..60],
            &PETER_SIG[60..]
        );
        assert!(matches!(
            verify_note(&mixed, &[peter()]),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn spec_examples_parse() {
        let note = parse_note(SPEC_NOTE).unwrap();
        assert_eq!(
            note.text,
            "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
        );
        assert_eq!(note.signatures[0].name, "quasimodo.example/salvatore");

        let note = parse_note(SPEC_CHECKPOINT).unwrap();
        assert_eq!(note.signatures[0].name, "example.com/behind-the-sofa");
        let cp = Checkpoint::parse(&note.text).unwrap();
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20852163);
        assert_eq!(
            b64::encode(cp.root),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert!(cp.extensions.is_empty());
        assert_eq!(cp.to_text(), note.text);
    }

    #[test]
    fn round_trip_sign_parse_verify() {
        let key = random_key();
        let name = "example.com/exhibit";
        let cp = Checkpoint {
            origin: name.into(),
            size: 42,
            root: [7; 32],
            extensions: vec!["ext one".into()],
        };
        let msg = sign_note(&cp.to_text(), name, &key).unwrap();
        let parsed = parse_note(&msg).unwrap();
        assert_eq!(parsed.text, cp.to_text());
        assert_eq!(parsed.signatures.len(), 1);
        assert_eq!(
            parsed.signatures[0].key_hash,
            key_hash(name, &key.verifying_key())
        );
        let vkey = parse_verifier_key(&verifier_key(name, &key.verifying_key())).unwrap();
        let verified = verify_note(&msg, &[vkey]).unwrap();
        assert_eq!(verified, parsed);
        assert_eq!(Checkpoint::parse(&verified.text).unwrap(), cp);
    }

    #[test]
    fn sign_rejects_bad_input() {
        let key = random_key();
        for text in ["", "no newline", "a\rb\n", "tab\there\n", "nul\0\n"] {
            assert!(
                matches!(sign_note(text, "n", &key), Err(NoteError::MalformedNote(_))),
                "signed {text:?}"
            );
        }
        for name in ["", "a b", "a+b", "a\u{a0}b", "a\nb"] {
            assert_eq!(
                sign_note("ok\n", name, &key),
                Err(NoteError::InvalidKeyName(name.into()))
            );
        }
    }

    #[test]
    fn text_with_blank_lines_round_trips() {
        let key = random_key();
        for text in [
            "\n",
            "a\n\n",
            "a\n\nb\n",
            "\n\n\n",
            "— looks like a sig\n\n",
        ] {
            let msg = sign_note(text, "k", &key).unwrap();
            let note = verify_note(&msg, &[("k".into(), key.verifying_key())]).unwrap();
            assert_eq!(note.text, text);
        }
    }

    #[test]
    fn tampering_any_byte_fails() {
        let key = random_key();
        let trusted = [("log".to_owned(), key.verifying_key())];
        let text = "log\n12345\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let msg = sign_note(text, "log", &key).unwrap();
        assert!(verify_note(&msg, &trusted).is_ok());
        for i in 0..text.len() {
            for bit in 0..8 {
                let mut bytes = msg.clone().into_bytes();
                bytes[i] ^= 1 << bit;
                // A &str can only hold UTF-8; other corruptions cannot reach us.
                let Ok(tampered) = String::from_utf8(bytes) else {
                    continue;
                };
                let res = verify_note(&tampered, &trusted);
                assert!(
                    matches!(
                        res,
                        Err(NoteError::InvalidSignature { .. } | NoteError::MalformedNote(_))
                    ),
                    "byte {i} bit {bit}: {res:?}"
                );
            }
        }
    }

    #[test]
    fn wrong_key_fails() {
        let key = random_key();
        let msg = sign_note("hello\n", "log", &key).unwrap();
        let other = random_key();
        assert_eq!(
            verify_note(&msg, &[("log".into(), other.verifying_key())]),
            Err(NoteError::NoKnownSignature)
        );
        assert_eq!(
            verify_note(&msg, &[("other".into(), key.verifying_key())]),
            Err(NoteError::NoKnownSignature)
        );
    }

    #[test]
    fn unknown_signatures_ignored() {
        let ours = random_key();
        let theirs = random_key();
        let text = "hello\n";
        let signed_by_theirs = sign_note(text, "witness.example", &theirs).unwrap();
        let theirs_line = signed_by_theirs.strip_prefix(&format!("{text}\n")).unwrap();
        // A cosignature-shaped line (type 0x04: hash, timestamp, signature)
        // from an unknown key must be tolerated even though it is not Ed25519-shaped.
        let cosig = format!("— other.example {}\n", b64::encode([9u8; 4 + 8 + 64]));
        let ours_signed = sign_note(text, "log", &ours).unwrap();
        let msg = format!("{ours_signed}{theirs_line}{cosig}");
        let note = verify_note(&msg, &[("log".into(), ours.verifying_key())]).unwrap();
        assert_eq!(note.signatures.len(), 1);
        assert_eq!(note.signatures[0].name, "log");
        assert_eq!(parse_note(&msg).unwrap().signatures.len(), 2);
        // Unknown lines first does not change anything.
        let reordered = format!(
            "{text}\n{cosig}{theirs_line}{}",
            &ours_signed[text.len() + 1..]
        );
        assert_eq!(
            verify_note(&reordered, &[("log".into(), ours.verifying_key())]).unwrap(),
            note
        );
    }

    #[test]
    fn duplicate_lines_count_once() {
        let key = random_key();
        let msg = sign_note("hi\n", "log", &key).unwrap();
        let line = &msg["hi\n\n".len()..];
        let doubled = format!("{msg}{line}");
        let note = verify_note(&doubled, &[("log".into(), key.verifying_key())]).unwrap();
        assert_eq!(note.signatures.len(), 1);
    }

    /// One signature line of `text` by `key` under `name`.
    fn sig_line(text: &str, name: &str, key: &SigningKey) -> String {
        sign_note(text, name, key).unwrap()[text.len() + 1..].to_owned()
    }

    /// A line with a chosen name and payload, well formed.
    fn raw_line(name: &str, payload: &[u8]) -> String {
        format!("— {name} {}\n", b64::encode(payload))
    }

    // FORMAT.md 9.5, acceptance rule 1: the text ends at the last empty line.
    #[test]
    fn rule_separator_is_the_last_empty_line() {
        let key = random_key();
        let trusted = [("log".to_owned(), key.verifying_key())];
        // Signed over a text that itself holds an empty line: only the last
        // empty line can be the separator, and the whole text is signed.
        let text = "log\n\nsecond paragraph\n";
        let msg = sign_note(text, "log", &key).unwrap();
        assert_eq!(verify_note(&msg, &trusted).unwrap().text, text);
        // Splitting at the first empty line instead would make the rest of
        // the text a "signature line", which is malformed.
        assert!(parse_signature_line("second paragraph").is_err());
        // An empty line after the signatures leaves no signature lines.
        assert_eq!(
            verify_note(&format!("{msg}\n"), &trusted),
            Err(NoteError::MalformedNote("note has no signature lines"))
        );
        // An empty line between two signature lines makes the first one text.
        let line = sig_line(text, "log", &key);
        let split = format!("{text}\n{line}\n{line}");
        assert_eq!(
            verify_note(&split, &trusted).unwrap_err(),
            NoteError::InvalidSignature {
                name: "log".into(),
                key_hash: key_hash("log", &key.verifying_key())
            }
        );
    }

    // Rule 1: any malformed line rejects the note, even one by an unknown
    // key and even next to a valid signature by a trusted key.
    #[test]
    fn rule_a_malformed_line_rejects_the_whole_note() {
        let key = random_key();
        let trusted = [("log".to_owned(), key.verifying_key())];
        let good = sign_note("hi\n", "log", &key).unwrap();
        let canonical = b64::encode([0xfbu8; 4 + 64]);
        assert!(canonical.contains('+'));
        // The same 68 bytes with a padding bit of the last symbol set.
        let padded_bits = set_padding_bit(&canonical);
        assert_eq!(
            lenient_decode(&padded_bits).map(|b| b.len()),
            Some(68),
            "a lenient decoder reads it as the same signature"
        );
        for bad in [
            format!("— other.example {padded_bits}\n"),
            format!("— other.example {}\n", canonical.trim_end_matches('=')),
            format!("— other.example {canonical}=\n"),
            format!("— other.example {}\n", canonical.replace('+', "-")),
            format!("— other.example  {canonical}\n"),
            format!("— other.example {canonical} \n"),
            format!("— other example {canonical}\n"),
            format!("— {canonical}\n"),
            format!("—other.example {canonical}\n"),
            format!("- other.example {canonical}\n"),
            format!("— other+example {canonical}\n"),
            raw_line("other.example", &[1, 2, 3, 4]),
        ] {
            for msg in [format!("{good}{bad}"), format!("hi\n\n{bad}{}", &good[4..])] {
                assert!(
                    matches!(
                        verify_note(&msg, &trusted),
                        Err(NoteError::MalformedNote(_))
                    ),
                    "not refused as malformed: {msg:?}"
                );
                assert!(parse_note(&msg).is_err(), "parsed {msg:?}");
            }
        }
    }

    // Rule 2: a line matches a key only by name AND key hash.
    #[test]
    fn rule_matching_needs_both_name_and_key_hash() {
        let key = random_key();
        let other = random_key();
        let trusted = [("log".to_owned(), key.verifying_key())];
        let text = "hi\n";
        let ours = sig_line(text, "log", &key);
        // Our key hash under another name: not ours, so not checked, even
        // though its signature bytes would verify under our key.
        let payload = b64::decode(ours.trim_end().rsplit(' ').next().unwrap()).unwrap();
        let renamed = raw_line("log2", &payload);
        assert_eq!(
            verify_note(&format!("{text}\n{renamed}"), &trusted),
            Err(NoteError::NoKnownSignature)
        );
        // Our name with another key's hash: a different key, ignored.
        let theirs = sig_line(text, "log", &other);
        assert_eq!(
            verify_note(&format!("{text}\n{theirs}"), &trusted),
            Err(NoteError::NoKnownSignature)
        );
        // Both next to ours: ignored, ours verifies.
        let note = verify_note(&format!("{text}\n{renamed}{theirs}{ours}"), &trusted).unwrap();
        assert_eq!(note.signatures.len(), 1);
        assert_eq!(note.signatures[0].name, "log");
        // Names compare byte for byte: no case folding.
        assert_eq!(
            verify_note(
                &format!("{text}\n{ours}"),
                &[("LOG".into(), key.verifying_key())]
            ),
            Err(NoteError::NoKnownSignature)
        );
    }

    // Rule 3: a matching line must be a valid 68-byte Ed25519 signature.
    #[test]
    fn rule_every_matching_line_must_verify() {
        let key = random_key();
        let vk = key.verifying_key();
        let trusted = [("log".to_owned(), vk)];
        let text = "hi\n";
        let ours = sig_line(text, "log", &key);
        let hash = key_hash("log", &vk).to_be_bytes();
        let invalid = Err(NoteError::InvalidSignature {
            name: "log".into(),
            key_hash: key_hash("log", &vk),
        });
        // Our name and hash, a cosignature-shaped payload (4 + 8 + 64): it
        // matches our key, so it must be an Ed25519 signature, and is not.
        let mut long = hash.to_vec();
        long.extend_from_slice(&[0; 72]);
        // Our name and hash, one byte of signature.
        let short = [&hash[..], &[0]].concat();
        // Our name and hash, a signature of another text.
        let other_text = sig_line("other\n", "log", &key);
        for bad in [raw_line("log", &long), raw_line("log", &short), other_text] {
            for msg in [
                format!("{text}\n{ours}{bad}"),
                format!("{text}\n{bad}{ours}"),
            ] {
                assert_eq!(verify_note(&msg, &trusted).map(|_| ()), invalid, "{msg:?}");
            }
        }
    }

    // Rule 4: lines that match no trusted key are ignored, whatever their
    // payload length (at least the 4-byte key hash and one byte).
    #[test]
    fn rule_unknown_lines_are_ignored_whatever_their_length() {
        let key = random_key();
        let trusted = [("log".to_owned(), key.verifying_key())];
        let text = "hi\n";
        let ours = sig_line(text, "log", &key);
        for len in [5, 67, 68, 69, 4 + 8 + 64, 1000] {
            let unknown = raw_line("witness.example", &vec![0xa5; len]);
            let note = verify_note(&format!("{text}\n{unknown}{ours}"), &trusted).unwrap();
            assert_eq!(note.signatures.len(), 1, "len {len}");
        }
    }

    // Rule 3 and the returned signers: a repeated valid line is checked
    // each time and counts once.
    #[test]
    fn rule_duplicate_lines_are_each_checked_and_count_once() {
        let a = random_key();
        let b = random_key();
        let trusted = [
            ("log".to_owned(), a.verifying_key()),
            ("log".to_owned(), b.verifying_key()),
        ];
        let text = "hi\n";
        let (la, lb) = (sig_line(text, "log", &a), sig_line(text, "log", &b));
        let note = verify_note(&format!("{text}\n{la}{lb}{la}{lb}"), &trusted).unwrap();
        assert_eq!(note.signatures.len(), 2, "two signers, each counted once");
        // Two lines by two archive keys, checked by a verifier who trusts
        // only one of them: the other is an unknown key, ignored.
        let only_b = [("log".to_owned(), b.verifying_key())];
        assert_eq!(
            verify_note(&format!("{text}\n{la}{lb}"), &only_b)
                .unwrap()
                .signatures
                .len(),
            1
        );
    }

    // Section 2: base64 is accepted only in its canonical spelling, in the
    // root hash and in verifier keys as in signature lines.
    #[test]
    fn non_canonical_base64_is_refused_everywhere() {
        let root = b64::encode([0u8; 32]);
        assert!(Checkpoint::parse(&format!("o\n1\n{root}\n")).is_ok());
        let set_bit = root.replace("A=", "B=");
        assert_eq!(
            Checkpoint::parse(&format!("o\n1\n{set_bit}\n")),
            Err(NoteError::MalformedCheckpoint(
                "root hash is not canonical padded standard base64"
            ))
        );
        // A verifier key's 33 bytes need no padding: other spellings are
        // padding added, another alphabet, white space.
        let (name, key) = peter();
        let encoded = [&[ALG_ED25519][..], key.as_bytes()].concat();
        let text = b64::encode(&encoded);
        assert!(PETER_VKEY.ends_with(&format!("+{text}")));
        for loose in [
            format!("{text}="),
            format!("{text}===="),
            text.replace('/', "_"),
            format!("{text}\n"),
            format!(" {text}"),
        ] {
            assert_eq!(
                parse_verifier_key(&format!("{name}+c74f20a3+{loose}")),
                Err(NoteError::BadVerifierKey(
                    "key is not canonical padded standard base64"
                )),
                "{loose:?}"
            );
        }
        // A signature line whose payload has padding bits set.
        let k = random_key();
        let line = sig_line("hi\n", "log", &k);
        let (head, payload) = line.trim_end().rsplit_once(' ').unwrap();
        let loose = format!("hi\n\n{head} {}\n", set_padding_bit(payload));
        assert_eq!(
            verify_note(&loose, &[("log".into(), k.verifying_key())]),
            Err(NoteError::MalformedNote(
                "signature is not canonical padded standard base64"
            ))
        );
    }

    /// `text` with the lowest bit of the symbol before its padding set: the
    /// same bytes to a decoder that ignores padding bits.
    fn set_padding_bit(text: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let at = text.find('=').expect("a padded text") - 1;
        let mut bytes = text.as_bytes().to_vec();
        let pos = ALPHABET.iter().position(|&c| c == bytes[at]).unwrap();
        assert_eq!(pos & 1, 0, "{text:?} has its padding bits clear");
        bytes[at] = ALPHABET[pos | 1];
        String::from_utf8(bytes).unwrap()
    }

    fn lenient_decode(text: &str) -> Option<Vec<u8>> {
        use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
        let lenient = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        base64::Engine::decode(&lenient, text).ok()
    }

    fn counter_key(i: u64) -> SigningKey {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&i.to_le_bytes());
        SigningKey::from_bytes(&seed)
    }

    #[test]
    fn ambiguous_trusted_keys_rejected() {
        // Found by a one-off birthday search over counter seeds: two
        // different keys whose hashes collide under the name "log".
        let (a, b) = (counter_key(11324), counter_key(51932));
        let (va, vb) = (a.verifying_key(), b.verifying_key());
        assert_ne!(va, vb);
        assert_eq!(key_hash("log", &va), 0xe5270aea);
        assert_eq!(key_hash("log", &vb), 0xe5270aea);
        let msg = sign_note("hi\n", "log", &a).unwrap();
        assert_eq!(
            verify_note(&msg, &[("log".into(), va), ("log".into(), vb)]),
            Err(NoteError::AmbiguousKey {
                name: "log".into(),
                key_hash: 0xe5270aea
            })
        );
        // Trusting only the other key: known name and hash, so it must
        // verify, and it does not.
        assert_eq!(
            verify_note(&msg, &[("log".into(), vb)]),
            Err(NoteError::InvalidSignature {
                name: "log".into(),
                key_hash: 0xe5270aea
            })
        );
        // The same key listed twice is not ambiguous.
        assert!(verify_note(&msg, &[("log".into(), va), ("log".into(), va)]).is_ok());
    }

    #[test]
    fn checkpoint_strictness() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let ok = |size: &str| format!("o\n{size}\n{root}\n");
        assert_eq!(Checkpoint::parse(&ok("0")).unwrap().size, 0);
        assert_eq!(
            Checkpoint::parse(&ok("18446744073709551615")).unwrap().size,
            u64::MAX
        );
        for size in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1.0",
            "0x10",
            "18446744073709551616",
            "١",
        ] {
            assert!(
                matches!(
                    Checkpoint::parse(&ok(size)),
                    Err(NoteError::MalformedCheckpoint(_))
                ),
                "size {size:?}"
            );
        }
        let bad = [
            String::new(),
            "\n".into(),
            format!("\n1\n{root}\n"),
            "o\n1\n".into(),
            format!("o\n1\n{root}"),
            format!("o\n1\n{root}\n\n"),
            format!("o\n1\n{root}\next\n\n"),
            format!("o\n1\n{}\n", root.trim_end_matches('=')),
            format!("o\n1\n{}\n", root.replace('/', "_")),
            format!("o\n1\n{}\n", b64::encode([0u8; 31])),
            format!("o\n1\n{}\n", b64::encode([0u8; 33])),
            format!("o\r\n1\n{root}\n"),
            format!("o\n1\n{root}\n\tx\n"),
        ];
        for text in &bad {
            assert!(
                matches!(
                    Checkpoint::parse(text),
                    Err(NoteError::MalformedCheckpoint(_))
                ),
                "parsed {text:?}"
            );
        }
        let with_ext = Checkpoint::parse(&format!("o\n1\n{root}\na\nb c\n")).unwrap();
        assert_eq!(with_ext.extensions, vec!["a".to_owned(), "b c".to_owned()]);
    }

    #[test]
    fn errors_have_messages() {
        assert_eq!(
            NoteError::InvalidSignature {
                name: "log".into(),
                key_hash: 0xab
            }
            .to_string(),
            "invalid signature by trusted key log+000000ab"
        );
        assert_eq!(
            NoteError::NoKnownSignature.to_string(),
            "note has no signature by a trusted key"
        );
    }

    fn valid_checkpoint() -> impl Strategy<Value = Checkpoint> {
        (
            "[^\\x00-\\x1f]{1,40}",
            any::<u64>(),
            any::<[u8; 32]>(),
            proptest::collection::vec("[^\\x00-\\x1f]{1,20}", 0..4),
        )
            .prop_map(|(origin, size, root, extensions)| Checkpoint {
                origin,
                size,
                root,
                extensions,
            })
    }

    // Characters that reach the deeper branches of the parsers.
    const NOTEISH: &str = "[a-zA-Z0-9+/= \n—\r\u{a0}]{0,200}";

    proptest! {
        #[test]
        fn parsers_never_panic(s in any::<String>()) {
            let _ = parse_note(&s);
            let _ = verify_note(&s, &[peter()]);
            let _ = parse_verifier_key(&s);
            let _ = Checkpoint::parse(&s);
        }

        #[test]
        fn parsers_never_panic_noteish(s in NOTEISH) {
            let _ = parse_note(&s);
            let _ = verify_note(&s, &[peter()]);
            let _ = parse_verifier_key(&s);
            let _ = Checkpoint::parse(&s);
        }

        #[test]
        fn parsers_never_panic_on_mutated_vectors(pos in 0usize..400, s in NOTEISH) {
            for base in [peter_note(), SPEC_CHECKPOINT.to_owned(), PETER_VKEY.to_owned()] {
                let mut cut = pos.min(base.len());
                while !base.is_char_boundary(cut) {
                    cut -= 1;
                }
                let m = format!("{}{}{}", &base[..cut], s, &base[cut..]);
                let _ = parse_note(&m);
                let _ = verify_note(&m, &[peter()]);
                let _ = parse_verifier_key(&m);
                let _ = Checkpoint::parse(&m);
            }
        }

        #[test]
        fn checkpoint_round_trips(cp in valid_checkpoint()) {
            prop_assert_eq!(Checkpoint::parse(&cp.to_text()), Ok(cp));
        }

        #[test]
        fn signed_checkpoint_round_trips(cp in valid_checkpoint(), seed in any::<[u8; 32]>()) {
            let key = SigningKey::from_bytes(&seed);
            let msg = sign_note(&cp.to_text(), "log", &key).unwrap();
            let note = verify_note(&msg, &[("log".into(), key.verifying_key())]).unwrap();
            prop_assert_eq!(Checkpoint::parse(&note.text), Ok(cp));
        }

        #[test]
        fn verifier_key_round_trips(name in "[^\\s+\\x00-\\x1f]{1,30}", seed in any::<[u8; 32]>()) {
            let vk = SigningKey::from_bytes(&seed).verifying_key();
            prop_assert_eq!(parse_verifier_key(&verifier_key(&name, &vk)), Ok((name, vk)));
        }
    }
}
