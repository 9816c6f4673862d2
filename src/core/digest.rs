//! SHA-256 digests as one type: parsed once from their only accepted spelling (64 lowercase hex
//! digits, as manifests, leaf lines and blob names write them), so no caller slices or
//! re-validates a hex string by hand.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// The digest spelled exactly as exhibit writes it; anything else (upper case, other length,
    /// whitespace) is `None`.
    pub fn parse(s: &str) -> Option<Sha256> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Sha256(out))
    }

    /// `parse` for text a record or bundle holds: a bad digest there is damage, named as such.
    pub fn checked(s: &str) -> crate::error::Result<Sha256> {
        Sha256::parse(s).ok_or_else(|| {
            crate::error::Error::verification(format!(
                "{} is not a SHA-256 digest (64 lowercase hex digits)",
                s.escape_debug()
            ))
        })
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Sha256 {
        Sha256(bytes)
    }

    /// The digest of `data`, in one pass.
    pub fn of(data: &[u8]) -> Sha256 {
        use sha2::Digest;
        Sha256(sha2::Sha256::digest(data).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn hex(&self) -> String {
        self.to_string()
    }

    /// The first two hex digits: the shard directory a blob is stored under.
    pub fn shard(&self) -> String {
        format!("{:02x}", self.0[0])
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write of 64 bytes: formatting byte by byte (`{:02x}`) was 4% of audit's CPU.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, b) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 15)];
        }
        f.write_str(std::str::from_utf8(&out).expect("hex digits"))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

impl PartialEq<str> for Sha256 {
    fn eq(&self, other: &str) -> bool {
        Sha256::parse(other) == Some(*self)
    }
}

impl PartialEq<String> for Sha256 {
    fn eq(&self, other: &String) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Sha256> for String {
    fn eq(&self, other: &Sha256) -> bool {
        other == self.as_str()
    }
}

impl PartialEq<Sha256> for &str {
    fn eq(&self, other: &Sha256) -> bool {
        other == *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_the_written_spelling_parses() {
        let h = "0be9e4".to_string() + &"a".repeat(58);
        assert_eq!(Sha256::parse(&h).unwrap().to_string(), h);
        assert_eq!(Sha256::parse(&h).unwrap().shard(), "0b");
        assert!(Sha256::parse(&h.to_uppercase()).is_none());
        assert!(Sha256::parse(&h[..63]).is_none());
        assert!(Sha256::parse(&format!("{h}0")).is_none());
        assert!(Sha256::parse(&format!(" {}", &h[1..])).is_none());
        assert!(Sha256::parse(&h.replace('a', "g")).is_none());
        assert!(Sha256::parse("").is_none());
    }

    #[test]
    fn of_matches_the_standard_vector() {
        assert_eq!(
            Sha256::of(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(bytes in any::<[u8; 32]>()) {
            let d = Sha256::from_bytes(bytes);
            prop_assert_eq!(Sha256::parse(&d.to_string()), Some(d));
        }

        #[test]
        fn parse_accepts_exactly_64_lowercase_hex(s in "\\PC{0,70}") {
            let ok = s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            prop_assert_eq!(Sha256::parse(&s).is_some(), ok);
        }
    }
}
