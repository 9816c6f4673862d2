//! WARC 1.1 (ISO 28500:2017): records, digests and record IDs, a writer that puts each record
//! in a gzip member of its own (WARC 1.1 Annex D, so any record can be read by seeking to its
//! offset), and a streaming reader for untrusted files.

pub mod chunked;
pub mod http;
pub mod reader;
pub mod writer;

use sha2::Digest as _;

/// The version line exhibit writes.
pub const VERSION: &str = "WARC/1.1";

/// `application/http;msgtype=...` as exhibit writes it.
pub const HTTP_REQUEST: &str = "application/http;msgtype=request";
pub const HTTP_RESPONSE: &str = "application/http;msgtype=response";
/// The revisit profile exhibit writes (WARC 1.1 section 6.7.2).
pub const PROFILE_IDENTICAL_PAYLOAD: &str =
    "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest";

/// A deterministic `<urn:uuid:...>` for one part of an export. The UUID is RFC 9562 version 8
/// ("custom"): the first 16 bytes of SHA-256 of `exhibit-warc/1 ` and `name`, with the version and
/// variant bits set. So the same record gives the same WARC-Record-ID in every export, and
/// a verifier can recompute it (docs/FORMAT.md 15.3).
pub fn record_uuid(name: &str) -> String {
    let h = sha2::Sha256::digest(format!("exhibit-warc/1 {name}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "<urn:uuid:{}-{}-{}-{}-{}>",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// Named fields in order, rendered `Name: value` CRLF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_string(), value.into()));
    }

    /// The record header: version line, fields, empty line.
    pub fn render_header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(VERSION.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.0 {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// A digest algorithm a WARC may name. exhibit writes `sha256` and checks all four.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    fn from_label(s: &str) -> Option<Algorithm> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Some(Algorithm::Sha1),
            "sha256" => Some(Algorithm::Sha256),
            "sha384" => Some(Algorithm::Sha384),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// The digest's length in bytes.
    pub fn size(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 => 64,
        }
    }

    pub fn hasher(self) -> Hasher {
        match self {
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

/// A running digest of one of the algorithms above.
#[derive(Clone)]
pub enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha384(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// A parsed `WARC-Block-Digest` or `WARC-Payload-Digest` value: `algorithm:value`, the value in
/// base32 (RFC 4648, as WARC 1.0 writers such as wget and Heritrix use for SHA-1), hex (as
/// exhibit, warcio and Browsertrix use for SHA-256) or base64, told apart by length as warcio
/// does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub algorithm: Algorithm,
    pub bytes: Vec<u8>,
}

impl Digest {
    /// Parse a digest value. `Err` says why in a few words (for one error line).
    pub fn parse(s: &str) -> Result<Digest, String> {
        let (label, value) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not of the form algorithm:value"))?;
        let algorithm = Algorithm::from_label(label.trim())
            .ok_or_else(|| format!("unsupported digest algorithm {:?}", label.trim()))?;
        let value = value.trim();
        let n = algorithm.size();
        let bytes = if value.len() == 2 * n {
            hex::decode(value).ok()
        } else if value.trim_end_matches('=').len() == (n * 8).div_ceil(5) {
            base32_decode(value.trim_end_matches('='))
        } else if value.len() == n.div_ceil(3) * 4
            || value.trim_end_matches('=').len() == (n * 4).div_ceil(3)
        {
            base64_decode(value)
        } else {
            None
        };
        match bytes {
            Some(b) if b.len() == n => Ok(Digest {
                algorithm,
                bytes: b,
            }),
            _ => Err(format!(
                "{s:?} is not a {label} digest in hex, base32 or base64"
            )),
        }
    }

    pub fn matches(&self, computed: &[u8]) -> bool {
        self.bytes == computed
    }
}

/// `sha256:<hex>`, the spelling exhibit writes.
pub fn sha256_label(hex: &str) -> String {
    format!("sha256:{hex}")
}

fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u64, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        } as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let s = s.replace('-', "+").replace('_', "/");
    let e = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    e.decode(s).ok()
}

/// The WARC-Date exhibit writes for one of its times (already `YYYY-MM-DDTHH:MM:SSZ`).
pub fn date(canonical: &str) -> String {
    canonical.to_string()
}

/// A WARC-Date as WARC 1.1 allows it (`YYYY-MM-DDThh:mm:ssZ`, optionally with a fraction of a
/// second), as exhibit's canonical time (fraction truncated). None if it is not one.
pub fn parse_date(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.ends_with('Z') || b[10] != b'T' {
        return None;
    }
    let main = &s[..19];
    let rest = &s[19..s.len() - 1];
    let fraction =
        rest.len() > 1 && rest.starts_with('.') && rest[1..].bytes().all(|c| c.is_ascii_digit());
    if !rest.is_empty() && !fraction {
        return None;
    }
    let t: jiff::Timestamp = format!("{main}Z").parse().ok()?;
    let canon = crate::manifest::format_time(t);
    (canon[..19] == *main).then_some(canon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_stable_version_8_uuids() {
        let a = record_uuid("EX-GQN6-420A-ZZ7Q/response/0");
        assert_eq!(a, record_uuid("EX-GQN6-420A-ZZ7Q/response/0"));
        assert_ne!(a, record_uuid("EX-GQN6-420A-ZZ7Q/request/0"));
        assert_eq!(a.len(), "<urn:uuid:>".len() + 36);
        assert_eq!(&a[24..25], "8", "{a}");
        assert!(matches!(&a[29..30], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn digests_in_every_spelling() {
        let sha1 = sha1::Sha1::digest(b"abc").to_vec();
        // wget writes base32 SHA-1.
        let d = Digest::parse("sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5").unwrap();
        assert_eq!(d.algorithm, Algorithm::Sha1);
        assert!(d.matches(&sha1));
        assert!(Digest::parse(&format!("SHA1:{}", hex::encode(&sha1)))
            .unwrap()
            .matches(&sha1));
        let s = sha2::Sha256::digest(b"abc");
        assert!(Digest::parse(&sha256_label(&hex::encode(s)))
            .unwrap()
            .matches(&s));
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(s);
        assert!(Digest::parse(&format!("sha256:{b64}")).unwrap().matches(&s));
        assert!(Digest::parse("md5:900150983cd24fb0d6963f7d28e17f72")
            .unwrap_err()
            .contains("unsupported"));
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse("sha256").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2026-05-21T05:07:28Z").as_deref(),
            Some("2026-05-21T05:07:28Z")
        );
        assert_eq!(
            parse_date("2026-05-21T05:07:28.123456Z").as_deref(),
            Some("2026-05-21T05:07:28Z")
        );
        for bad in [
            "2026-05-21",
            "2026-05-21T05:07:28",
            "2026-05-21T05:07:28+00:00",
            "2026-13-21T05:07:28Z",
            "2026-05-21T05:07:28.Z",
            "2026-05-21 05:07:28Z",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
