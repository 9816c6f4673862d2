//! Signing keys. Secret keys are PKCS#8 PEM files of mode 0600; public keys are SPKI PEM, the
//! form `openssl pkey -pubin` and Python's `cryptography` load directly, so a stranger can check
//! our signatures without our code. A key's ID is the first 16 hex digits of the SHA-256 of its
//! 32 raw public-key bytes.

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub use ed25519_dalek::{SigningKey as SecretKey, VerifyingKey as PublicKey};

/// The ID that names a public key in manifests and in the archive's `keys/` directory.
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    hex::encode(&digest[..8])
}

/// The canonical SPKI PEM text of a public key. Audit compares key files with this byte for
/// byte, so a changed byte in a key file cannot go unnoticed.
pub fn public_pem(public: &VerifyingKey) -> String {
    public
        .to_public_key_pem(LineEnding::LF)
        .expect("encoding a 32-byte key cannot fail")
}

pub fn parse_public_pem(text: &str, origin: &Path) -> Result<VerifyingKey> {
    VerifyingKey::from_public_key_pem(text.trim_end_matches('\n').trim_end()).map_err(|e| {
        Error::key(format!(
            "{} is not an Ed25519 public key in PEM (SPKI) form: {e}",
            origin.display()
        ))
        .hint("use the .pub file written by `exhibit keygen` or `openssl pkey -pubout`")
    })
}

pub fn read_public(path: &Path) -> Result<VerifyingKey> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut err = Error::io("read public key", path, e);
        err.kind = crate::error::Kind::Key;
        err
    })?;
    parse_public_pem(&text, path)
}

pub fn generate() -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| {
        Error::key(format!("the operating system gave no random bytes: {e}"))
            .hint("run on a system with a working /dev/urandom")
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Where a key lives when neither --key nor EXHIBIT_KEY says otherwise.
pub fn default_key_path() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("exhibit")
        .join("signing.key")
}

pub fn public_path(secret_path: &Path) -> PathBuf {
    let mut s = secret_path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Write a new secret key (0600) and its public key beside it. Refuses to replace an existing
/// key unless `force`, because a lost secret key cannot sign for its archive again.
pub fn save(path: &Path, key: &SigningKey, force: bool) -> Result<()> {
    if !force && path.exists() {
        return Err(already_exists(path));
    }
    if !place(path, key, force)? {
        return Err(already_exists(path));
    }
    Ok(())
}

fn already_exists(path: &Path) -> Error {
    Error::key(format!("a key already exists at {}", path.display()))
        .hint("use it as it is, pass --force to replace it, or choose another --out")
}

/// The key at `path`, or a new one written there if there is none. When several processes
/// create the same key at once, exactly one key wins and every process uses it: the secret is
/// written to a scratch file and hard-linked into place, which fails if a key is already there,
/// and the public key is always derived from the secret that won. Returns whether this call
/// created it.
pub fn load_or_create(path: &Path) -> Result<(SigningKey, bool)> {
    if path.exists() {
        return Ok((load(path)?, false));
    }
    let key = generate()?;
    if place(path, &key, false)? {
        return Ok((key, true));
    }
    let existing = load(path)?;
    // The winner may not have written its public key yet; it is the same bytes either way.
    write_public(path, &existing)?;
    Ok((existing, false))
}

/// Put `key` at `path` (and its public key beside it). Without `replace`, never overwrites:
/// returns false if a secret key is already there.
fn place(path: &Path, key: &SigningKey, replace: bool) -> Result<bool> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        fsutil::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .ctx("restrict permissions of", dir)?;
        }
    }
    // PKCS#8 v1 (RFC 8410 without the optional public key): the form `openssl genpkey` writes
    // and OpenSSL 3.0 and Python's cryptography read; they refuse the v2 form.
    let pem = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .map_err(|e| Error::key(format!("cannot encode the secret key: {e}")))?;
    // The secret goes through a flushed 0600 scratch file, so a crash never leaves a
    // half-written or world-readable key.
    if replace {
        fsutil::write_atomic(dir, path, pem.as_bytes(), 0o600)?;
    } else if !fsutil::write_new(dir, path, pem.as_bytes(), 0o600)? {
        return Ok(false);
    }
    write_public(path, key)?;
    Ok(true)
}

fn write_public(path: &Path, key: &SigningKey) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let public = public_pem(&key.verifying_key());
    fsutil::write_atomic(dir, &public_path(path), public.as_bytes(), 0o644)
}

/// Load a secret key, refusing one that others can read: a leaked signing key lets anyone forge
/// records that verify.
pub fn load(path: &Path) -> Result<SigningKey> {
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::key(format!("no signing key at {}", path.display())).hint(
                "create one with `exhibit keygen` (or `exhibit init`), or point --key / EXHIBIT_KEY at yours",
            )
        } else {
            let mut err = Error::io("read signing key", path, e);
            err.kind = crate::error::Kind::Key;
            err
        }
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::key(format!(
                "signing key {} is readable by others (mode {mode:04o})",
                path.display()
            ))
            .hint(format!("run `chmod 600 {}`", path.display())));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut err = Error::io("read signing key", path, e);
        err.kind = crate::error::Kind::Key;
        err
    })?;
    // The parse error text of a PEM decoder could echo key material; never include it.
    SigningKey::from_pkcs8_pem(&text).map_err(|_| {
        Error::key(format!(
            "{} is not an Ed25519 secret key in PKCS#8 PEM form",
            path.display()
        ))
        .hint("point --key at a key written by `exhibit keygen` or `openssl genpkey -algorithm ed25519`")
    })
}

pub fn sign(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    key.sign(message).to_bytes()
}

/// Strict verification (no malleable or small-order signatures), matching what OpenSSL accepts:
/// exactly what ed25519-dalek's `verify_strict` accepts (the tests hold it to that), one
/// square root cheaper.
///
/// `verify_strict` decompresses R to refuse a small-order R, then recomputes
/// `R' = s B - k A` and compares its encoding with R's bytes. When the bytes are equal, R is
/// the canonical encoding of R', so R decompresses to R' itself and "R is small-order" is
/// "R' is small-order"; when they differ, both refuse. Testing R' instead of decompressing R
/// saves a field exponentiation, about a tenth of a verification, and audit verifies one
/// signature per record.
///
/// One signature at a time, never ed25519-dalek's `verify_batch`: a batch checks
/// `sum z_i (s_i B - k_i A_i - R_i) = 0` for coefficients derived from the batch itself, without
/// the small-order and canonical-encoding checks and without the cofactor. A signer can put an
/// order-2 point into R (or A); OpenSSL and `verify_strict` refuse that signature, but the batch
/// sum loses the torsion whenever its z is even, and the signer can retry until it is. Making
/// the batch exact would take a prime-order check of every R, which costs about what batching
/// saves (see the tests below and BENCHMARKS.md).
pub fn verify(public: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    let a = public.to_edwards();
    check(public, a.is_small_order(), message, signature, |k, s| {
        curve25519_dalek::EdwardsPoint::vartime_double_scalar_mul_basepoint(k, &-a, s)
    })
}

/// A public key readied for checking many signatures: [`verify`] with the same verdict on every
/// input, cheaper from the [`Verifier::TABLE_AFTER`]th signature on.
///
/// `verify` computes `s B - k A` with one double-scalar multiplication that builds a small
/// table of multiples of A for every signature. With A fixed, that table can be the same kind
/// as the one for B (32 x 8 multiples, 30 KiB, built once in about 0.9 ms), and `s B - k A`
/// becomes two fixed-base multiplications: 20 us instead of 28 on the benchmark machine, a
/// tenth of an audit's CPU (BENCHMARKS.md, issue 14). Both compute the same integer multiples
/// of the same points, so `R'` is the same point and the three checks of `verify` give the same
/// answer; the tests hold both paths to `verify_strict`. The table is built only once a key
/// has checked enough signatures to repay it, so a one-off check costs what `verify` does.
pub struct Verifier {
    key: VerifyingKey,
    small_order: bool,
    uses: std::sync::atomic::AtomicU32,
    minus_a: std::sync::OnceLock<Box<curve25519_dalek::edwards::EdwardsBasepointTable>>,
}

impl Verifier {
    /// Signatures checked the plain way before the table is built: the table costs about what
    /// a hundred signatures save.
    pub const TABLE_AFTER: u32 = 100;

    pub fn new(key: VerifyingKey) -> Self {
        Verifier {
            small_order: key.to_edwards().is_small_order(),
            key,
            uses: std::sync::atomic::AtomicU32::new(0),
            minus_a: std::sync::OnceLock::new(),
        }
    }

    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Same as `verify(self.key(), message, signature)`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
        use curve25519_dalek::traits::BasepointTable;
        use std::sync::atomic::Ordering;
        let table = match self.minus_a.get() {
            Some(table) => Some(table),
            None if self.uses.fetch_add(1, Ordering::Relaxed) < Self::TABLE_AFTER => None,
            None => Some(
                self.minus_a
                    .get_or_init(|| Box::new(BasepointTable::create(&-self.key.to_edwards()))),
            ),
        };
        let Some(minus_a) = table else {
            return verify(&self.key, message, signature);
        };
        check(&self.key, self.small_order, message, signature, |k, s| {
            s * ED25519_BASEPOINT_TABLE + k * &**minus_a
        })
    }
}

impl Clone for Verifier {
    fn clone(&self) -> Self {
        Verifier {
            key: self.key,
            small_order: self.small_order,
            uses: std::sync::atomic::AtomicU32::new(
                self.uses.load(std::sync::atomic::Ordering::Relaxed),
            ),
            minus_a: self.minus_a.clone(),
        }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Verifier").field(&self.key).finish()
    }
}

impl PartialEq for Verifier {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Verifier {}

/// The checks of [`verify`], with `s B - k A` computed by `sb_minus_ka(k, s)`.
fn check(
    public: &VerifyingKey,
    a_is_small_order: bool,
    message: &[u8],
    signature: &[u8],
    sb_minus_ka: impl FnOnce(
        &curve25519_dalek::scalar::Scalar,
        &curve25519_dalek::scalar::Scalar,
    ) -> curve25519_dalek::EdwardsPoint,
) -> bool {
    use curve25519_dalek::scalar::Scalar;
    use sha2::Sha512;
    let Ok(sig) = <&[u8; 64]>::try_from(signature) else {
        return false;
    };
    let (r_bytes, s_bytes) = sig.split_at(32);
    // s must be reduced (below the group order): s + L would be a second valid signature.
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(
        s_bytes.try_into().expect("32 bytes"),
    )) else {
        return false;
    };
    if a_is_small_order {
        return false;
    }
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(r_bytes)
            .chain_update(public.as_bytes())
            .chain_update(message)
            .finalize()
            .into(),
    );
    let expected_r = sb_minus_ka(&k, &s);
    expected_r.compress().as_bytes() == r_bytes && !expected_r.is_small_order()
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::IsIdentity;
    use ed25519_dalek::Signature;
    use proptest::prelude::*;
    use sha2::{Digest, Sha512};

    /// `super::verify`, after checking that a [`Verifier`] of the same key gives the same verdict
    /// both before it builds its table and after. Every test here goes through it, so each case
    /// holds all three paths to the same answer.
    fn verify(public: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
        use std::sync::atomic::Ordering;
        let plain = super::verify(public, message, signature);
        let fresh = Verifier::new(*public);
        assert_eq!(
            fresh.verify(message, signature),
            plain,
            "verifier before its table"
        );
        assert!(fresh.minus_a.get().is_none());
        thread_local! {
            static TABLED: std::cell::RefCell<Vec<Verifier>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let tabled = TABLED.with_borrow_mut(|cache| {
            if let Some(v) = cache.iter().find(|v| v.key() == public) {
                return v.clone();
            }
            // Past its threshold, the first check of any 64 bytes builds the table.
            let v = Verifier::new(*public);
            v.uses.store(Verifier::TABLE_AFTER, Ordering::Relaxed);
            v.verify(b"", &[0; 64]);
            cache.truncate(32);
            cache.push(v.clone());
            v
        });
        assert_eq!(
            tabled.verify(message, signature),
            plain,
            "verifier with its table"
        );
        assert!(tabled.minus_a.get().is_some());
        plain
    }

    /// Threads sharing one verifier across the point where it builds its table all get the
    /// verdicts `verify` gives, before, while and after it is built.
    #[test]
    fn a_shared_verifier_gives_every_thread_the_same_verdicts() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let v = Verifier::new(key.verifying_key());
        let good = sign(&key, b"m");
        let mut bad = good;
        bad[40] ^= 1;
        std::thread::scope(|s| {
            for t in 0..4 {
                let v = &v;
                s.spawn(move || {
                    for i in 0..100 {
                        let (sig, verdict) = if (i + t) % 3 == 0 {
                            (bad, false)
                        } else {
                            (good, true)
                        };
                        assert_eq!(v.verify(b"m", &sig), verdict, "thread {t}, signature {i}");
                    }
                });
            }
        });
        assert!(v.minus_a.get().is_some());
    }

    /// A verifier builds its table after [`Verifier::TABLE_AFTER`] signatures, good or bad, and
    /// not before; its verdicts do not change when it does.
    #[test]
    fn verifier_builds_its_table_once_it_pays() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let v = Verifier::new(key.verifying_key());
        let good = sign(&key, b"m");
        let mut bad = good;
        bad[0] ^= 1;
        for i in 0..Verifier::TABLE_AFTER {
            let (sig, verdict) = if i % 2 == 0 {
                (good, true)
            } else {
                (bad, false)
            };
            assert_eq!(v.verify(b"m", &sig), verdict);
            assert!(v.minus_a.get().is_none(), "built after {i} signatures");
        }
        assert!(v.verify(b"m", &good));
        assert!(v.minus_a.get().is_some());
        assert!(!v.verify(b"m", &bad));
        assert!(!v.verify(b"n", &good));
    }

    /// What `verify` must accept: ed25519-dalek's strict verification, called as it was.
    fn strict(public: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        public
            .verify_strict(message, &Signature::from_bytes(&sig))
            .is_ok()
    }

    /// Encodings of small-order points, canonical and not: y in {0, 1, -1} and y + p where
    /// that still fits, each with both sign bits, and the canonical encodings of all eight
    /// torsion points.
    fn small_order_encodings() -> Vec<[u8; 32]> {
        // p = 2^255 - 19, little-endian.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut p_minus_1 = p;
        p_minus_1[0] = 0xec;
        let mut p_plus_1 = p;
        p_plus_1[0] = 0xee;
        let mut one = [0u8; 32];
        one[0] = 1;
        let mut out = Vec::new();
        for y in [[0u8; 32], one, p_minus_1, p, p_plus_1] {
            for sign in [0u8, 0x80] {
                let mut e = y;
                e[31] |= sign;
                out.push(e);
            }
        }
        out.extend(EIGHT_TORSION.iter().map(|t| t.compress().to_bytes()));
        out
    }

    /// The signature with `j L` added to its s: for j in 1..=15 another encoding of the same
    /// scalar (s < L, and 16 L < 2^256).
    fn plus_multiple_of_l(sig: &[u8; 64], j: u16) -> [u8; 64] {
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut out = *sig;
        let mut carry = 0u16;
        for (i, l) in L.iter().enumerate() {
            let sum = u16::from(sig[32 + i]) + j * u16::from(*l) + carry;
            out[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        out
    }

    /// `k = H(R || A || M)` as a signer computes it.
    fn challenge(r: &[u8], a: &[u8], msg: &[u8]) -> Scalar {
        Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(r)
                .chain_update(a)
                .chain_update(msg)
                .finalize()
                .into(),
        )
    }

    fn signature(r: &[u8; 32], s: &Scalar) -> [u8; 64] {
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(r);
        sig[32..].copy_from_slice(&s.to_bytes());
        sig
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn verify_accepts_what_verify_strict_accepts(
            seed in any::<[u8; 32]>(),
            msg in proptest::collection::vec(any::<u8>(), 0..300),
            flip in proptest::option::of((0usize..64, 1u8..=255)),
            torsion in 0usize..8,
            r_bytes in any::<[u8; 32]>(),
            small in 0usize..18,
            s_bytes in any::<[u8; 32]>(),
        ) {
            let key = SigningKey::from_bytes(&seed);
            let public = key.verifying_key();
            let a = key.to_scalar();
            // Genuine, and with one byte changed anywhere.
            let genuine = sign(&key, &msg);
            prop_assert!(verify(&public, &msg, &genuine));
            let mut sig = genuine;
            if let Some((i, x)) = flip {
                sig[i] ^= x;
            }
            prop_assert_eq!(verify(&public, &msg, &sig), strict(&public, &msg, &sig));
            // s plus a multiple of the group order: the same scalar, refused unreduced.
            let malleated = plus_multiple_of_l(&genuine, 1 + u16::from(seed[0] % 15));
            prop_assert!(!strict(&public, &msg, &malleated));
            prop_assert!(!verify(&public, &msg, &malleated));
            // A torsion point added to the nonce by the signer.
            let (sig, _) = signed_with_nonce_point(&key, &msg, EIGHT_TORSION[torsion]);
            prop_assert_eq!(verify(&public, &msg, &sig), strict(&public, &msg, &sig));
            prop_assert_eq!(verify(&public, &msg, &sig), torsion == 0);
            // R any bytes, or a small-order encoding, with s genuine or any bytes.
            let encodings = small_order_encodings();
            for r in [r_bytes, encodings[small % encodings.len()]] {
                for s in [&genuine[32..], &s_bytes[..]] {
                    let mut forged = [0u8; 64];
                    forged[..32].copy_from_slice(&r);
                    forged[32..].copy_from_slice(s);
                    prop_assert_eq!(verify(&public, &msg, &forged), strict(&public, &msg, &forged));
                }
            }
            // R the identity and s = k a: s B - k A is the identity, R's very encoding, so only
            // the small-order check of R refuses it.
            let identity = EdwardsPoint::default().compress().to_bytes();
            let forged = signature(&identity, &(challenge(&identity, public.as_bytes(), &msg) * a));
            prop_assert!(!strict(&public, &msg, &forged));
            prop_assert!(!verify(&public, &msg, &forged));
            // Keys of small order, "signing" with R = rB, s = r: s B - k A = R - k A, which is R
            // whenever k A is the identity (always for the identity key).
            let r = Scalar::from_bytes_mod_order(r_bytes);
            let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
            for e in &encodings {
                if let Ok(weak) = VerifyingKey::from_bytes(e) {
                    for sig in [genuine, signature(&big_r, &r)] {
                        prop_assert!(!strict(&weak, &msg, &sig));
                        prop_assert!(!verify(&weak, &msg, &sig));
                    }
                }
            }
            // A key of mixed order aB + T, and a signer holding a.
            let mixed = EdwardsPoint::mul_base(&a) + EIGHT_TORSION[torsion];
            let mixed_bytes = mixed.compress().to_bytes();
            let mixed_key = VerifyingKey::from_bytes(&mixed_bytes).unwrap();
            let k = challenge(&big_r, &mixed_bytes, &msg);
            let sig = signature(&big_r, &(r + k * a));
            prop_assert_eq!(verify(&mixed_key, &msg, &sig), strict(&mixed_key, &msg, &sig));
            // ... who picks a small-order R and s = k a, so that s B - k A = -k T, hoping it is R.
            for t in EIGHT_TORSION {
                let r_t = t.compress().to_bytes();
                let sig = signature(&r_t, &(challenge(&r_t, &mixed_bytes, &msg) * a));
                prop_assert!(!strict(&mixed_key, &msg, &sig));
                prop_assert!(!verify(&mixed_key, &msg, &sig));
            }
            // Wrong lengths.
            prop_assert!(!verify(&public, &msg, &genuine[..63]));
            prop_assert!(!verify(&public, &msg, &[genuine.as_slice(), &[0]].concat()));
        }
    }

    /// A signature made by hand: `R = rB + T`, `s = r + H(R || A || M) a`, as a signer holding
    /// the key could make one. Returns it with `s B - k A - R`, the residue any verification
    /// equation looks at.
    fn signed_with_nonce_point(
        key: &SigningKey,
        msg: &[u8],
        torsion: EdwardsPoint,
    ) -> ([u8; 64], EdwardsPoint) {
        let a = key.to_scalar();
        let big_a = EdwardsPoint::mul_base(&a);
        assert_eq!(big_a.compress().to_bytes(), key.verifying_key().to_bytes());
        let r = Scalar::from(0x5eed_u64);
        let big_r = EdwardsPoint::mul_base(&r) + torsion;
        let r_bytes = big_r.compress().to_bytes();
        let k = challenge(&r_bytes, key.verifying_key().as_bytes(), msg);
        let s = r + k * a;
        (
            signature(&r_bytes, &s),
            EdwardsPoint::mul_base(&s) - k * big_a - big_r,
        )
    }

    #[test]
    fn a_mixed_order_nonce_is_refused_though_a_cofactorless_batch_could_accept_it() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let msg = b"a manifest";
        // The construction is right: without torsion it is an ordinary valid signature.
        let (honest, residue) = signed_with_nonce_point(&key, msg, EdwardsPoint::default());
        assert!(residue.is_identity());
        assert!(verify(&key.verifying_key(), msg, &honest));
        // With a point of order 2 in R, strict (and OpenSSL's) verification fails...
        let (forged, residue) = signed_with_nonce_point(&key, msg, EIGHT_TORSION[4]);
        assert!(!verify(&key.verifying_key(), msg, &forged));
        assert!(!residue.is_identity());
        // ...while a batch equation weighting it by an even coefficient sums to the identity,
        // which is why audit does not use batch verification.
        assert!((Scalar::from(2u64) * residue).is_identity());
    }

    #[test]
    fn a_malleated_signature_is_refused() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let msg = b"a manifest";
        let sig = sign(&key, msg);
        assert!(verify(&key.verifying_key(), msg, &sig));
        // s + L: the same scalar modulo the group order, a second encoding of one signature.
        let malleated = plus_multiple_of_l(&sig, 1);
        let s: [u8; 32] = sig[32..].try_into().unwrap();
        let s_plus_l: [u8; 32] = malleated[32..].try_into().unwrap();
        assert_eq!(
            Scalar::from_bytes_mod_order(s_plus_l),
            Scalar::from_bytes_mod_order(s)
        );
        assert!(!verify(&key.verifying_key(), msg, &malleated));
        // And any other change to either half.
        for i in [0, 31, 32, 63] {
            let mut bad = sig;
            bad[i] ^= 1;
            assert!(!verify(&key.verifying_key(), msg, &bad), "byte {i}");
        }
    }
}
