//! Base64 as every exhibit format uses it (docs/FORMAT.md section 2): RFC 4648 section 4, the
//! standard alphabet, `=` padding, and only the canonical spelling.
//!
//! Every byte string has exactly one canonical base64 text. A decoder that also took other
//! spellings (padding bits that are not zero, missing or extra `=`, line breaks, the URL-safe
//! alphabet) would let one signed checkpoint, header value or key exist in several byte forms,
//! so that "the same" file could differ byte for byte; exhibit's formats promise one form. The
//! check below does not rely on any decoder's configuration: the text is accepted only when
//! encoding the decoded bytes gives the text back.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The canonical base64 text of `bytes`.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// The bytes `text` encodes, if `text` is their canonical base64 spelling; `None` otherwise.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(text).ok()?;
    (encode(&bytes) == text).then_some(bytes)
}

/// A 32-byte hash from its 64 lowercase hex digits, the only spelling exhibit writes.
pub fn hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_spellings_round_trip() {
        for bytes in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            &[0xff; 33],
        ] {
            let text = encode(bytes);
            assert_eq!(decode(&text).as_deref(), Some(bytes), "{text:?}");
        }
        assert_eq!(encode(b"caf\xe9"), "Y2Fm6Q==");
    }

    #[test]
    fn every_other_spelling_is_refused() {
        for text in [
            "Y2Fm6R==", // the padding bits of the last symbol are not zero
            "Y2Fm6Q=",  // padding cut short
            "Y2Fm6Q",   // no padding
            "Y2Fm6Q===",
            "Zm9vYg=a",
            "Zg==Zg==",                                     // padding in the middle
            "Y2Fm\n6Q==",                                   // a line break
            " Y2Fm6Q==",                                    // white space
            "Y2Fm6Q==\n",                                   // a trailing newline
            "-_-_",                                         // the URL-safe alphabet
            "Zm9=", // "fo" with a padding bit set; "Zm8=" is its only form
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", // 32 bytes, a padding bit set
            "A",
            "=",
        ] {
            assert_eq!(decode(text), None, "accepted {text:?}");
        }
        // The 32-byte form above, written canonically, is accepted.
        assert_eq!(
            decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Some(vec![0; 32])
        );
    }
}
