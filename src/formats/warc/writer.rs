//! A streaming WARC writer: each record is one gzip member (WARC 1.1 Annex D), so an index can
//! point at any record by offset and length, and the file is an ordinary multi-member gzip file.
//!
//! Every member has the same 10-byte header ([`GZIP_HEADER`]: no file name, no time, OS
//! "unknown"), a raw deflate stream at [`LEVEL`], and the standard CRC-32 and size trailer. The
//! header is fixed so that the same records always give the same bytes, and so that exhibit's
//! own verification can refuse a member whose header bytes (which gzip readers ignore) changed.

use flate2::write::DeflateEncoder;
use flate2::Compression;
use sha2::Digest;
use std::io::{self, Write};

/// `1f 8b` magic, method 8 (deflate), no flags, MTIME 0, XFL 0, OS 255 (unknown).
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// The deflate level of every member.
pub const LEVEL: u32 = 6;

/// Counts what passes through, and hashes the current member.
pub struct Counting<W: Write> {
    pub inner: W,
    pub count: u64,
    member: sha2::Sha256,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.member.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Feeds the CRC-32 and size of the uncompressed bytes while compressing them.
struct Member<'a, W: Write> {
    deflate: DeflateEncoder<&'a mut Counting<W>>,
    crc: crc32fast::Hasher,
    size: u64,
}

impl<W: Write> Write for Member<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.deflate.write(buf)?;
        self.crc.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub struct WarcWriter<W: Write> {
    out: Counting<W>,
}

/// Where a record landed in the file: the gzip member's offset and compressed length, as a
/// CDX index names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub offset: u64,
    pub length: u64,
    /// SHA-256 of the member's bytes as written (compressed).
    pub sha256: [u8; 32],
}

impl<W: Write> WarcWriter<W> {
    pub fn new(out: W) -> Self {
        WarcWriter {
            out: Counting {
                inner: out,
                count: 0,
                member: sha2::Sha256::new(),
            },
        }
    }

    pub fn offset(&self) -> u64 {
        self.out.count
    }

    /// Write one record: `header` (the WARC header, its empty line included), then the block
    /// that `block` writes (exactly the Content-Length the header declares: the caller's
    /// business), then the two CRLFs that end a record, all in one gzip member.
    pub fn write_record(
        &mut self,
        header: &[u8],
        block: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<Placed> {
        let offset = self.out.count;
        self.out.member = sha2::Sha256::new();
        self.out.write_all(&GZIP_HEADER)?;
        let mut m = Member {
            deflate: DeflateEncoder::new(&mut self.out, Compression::new(LEVEL)),
            crc: crc32fast::Hasher::new(),
            size: 0,
        };
        m.write_all(header)?;
        block(&mut m)?;
        m.write_all(b"\r\n\r\n")?;
        let Member {
            deflate, crc, size, ..
        } = m;
        let out = deflate.finish()?;
        out.write_all(&crc.finalize().to_le_bytes())?;
        // ISIZE is the size modulo 2^32 (RFC 1952).
        out.write_all(&(size as u32).to_le_bytes())?;
        let end = out.count;
        Ok(Placed {
            offset,
            length: end - offset,
            sha256: std::mem::take(&mut out.member).finalize().into(),
        })
    }

    /// Write one record in a member whose deflate data is stored blocks only (RFC 1951 section
    /// 3.2.4), laid out exactly as [`stored_member`] says, so that every byte of the member
    /// is either content or fixed framing: nothing a decoder ignores.
    pub fn write_record_stored(&mut self, header: &[u8], block: &[u8]) -> io::Result<Placed> {
        let offset = self.out.count;
        self.out.member = sha2::Sha256::new();
        let content = [header, block, b"\r\n\r\n"].concat();
        self.out.write_all(&stored_member(&content))?;
        let end = self.out.count;
        Ok(Placed {
            offset,
            length: end - offset,
            sha256: std::mem::take(&mut self.out.member).finalize().into(),
        })
    }

    pub fn into_inner(self) -> W {
        self.out.inner
    }
}

/// Largest stored block.
const STORED_MAX: usize = 65535;

/// A gzip member of `content` in stored blocks: [`GZIP_HEADER`]; for each piece of at most
/// 65,535 bytes (one empty piece for empty content) a header byte `0x00` (`0x01` for the
/// last), LEN and NLEN little-endian, the bytes; then CRC-32 and size.
pub fn stored_member(content: &[u8]) -> Vec<u8> {
    let mut out = GZIP_HEADER.to_vec();
    let pieces: Vec<&[u8]> = if content.is_empty() {
        vec![&[]]
    } else {
        content.chunks(STORED_MAX).collect()
    };
    for (i, p) in pieces.iter().enumerate() {
        out.push(u8::from(i + 1 == pieces.len()));
        let len = p.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(p);
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(content);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&(content.len() as u32).to_le_bytes());
    out
}

/// The content of a member laid out exactly as [`stored_member`] writes it, or None.
pub fn parse_stored_member(member: &[u8]) -> Option<Vec<u8>> {
    let rest = member.strip_prefix(&GZIP_HEADER[..])?;
    let mut content = Vec::new();
    let mut at = 0;
    loop {
        let head = *rest.get(at)?;
        let len = u16::from_le_bytes(rest.get(at + 1..at + 3)?.try_into().ok()?);
        let nlen = u16::from_le_bytes(rest.get(at + 3..at + 5)?.try_into().ok()?);
        if nlen != !len || head > 1 {
            return None;
        }
        content.extend_from_slice(rest.get(at + 5..at + 5 + len as usize)?);
        at += 5 + len as usize;
        if head == 1 {
            break;
        }
        if len as usize != STORED_MAX {
            return None;
        }
    }
    if stored_member(&content) != member {
        return None;
    }
    Some(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn each_record_is_a_gzip_member() {
        let mut w = WarcWriter::new(Vec::new());
        let a = w
            .write_record(b"WARC/1.1\r\nA: 1\r\n\r\n", |o| o.write_all(b"one"))
            .unwrap();
        let b = w
            .write_record(b"WARC/1.1\r\nA: 2\r\n\r\n", |o| o.write_all(b"two"))
            .unwrap();
        let bytes = w.into_inner();
        assert_eq!(a.offset, 0);
        assert_eq!(b.offset, a.length);
        assert_eq!(b.offset + b.length, bytes.len() as u64);
        let mut one = String::new();
        flate2::read::GzDecoder::new(&bytes[..a.length as usize])
            .read_to_string(&mut one)
            .unwrap();
        assert_eq!(one, "WARC/1.1\r\nA: 1\r\n\r\none\r\n\r\n");
        let mut all = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut all)
            .unwrap();
        assert!(all.ends_with("two\r\n\r\n"));
        assert_eq!(&bytes[..10], &GZIP_HEADER);
        assert_eq!(
            &bytes[b.offset as usize..b.offset as usize + 10],
            &GZIP_HEADER
        );
    }

    #[test]
    fn stored_members_have_one_layout() {
        for n in [0usize, 1, 65535, 65536, 200_000] {
            let content: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
            let m = stored_member(&content);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&m[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, content);
            assert_eq!(parse_stored_member(&m), Some(content.clone()));
            for i in 0..m.len().min(64) {
                for mask in [1u8, 0x80, 0xff] {
                    let mut bad = m.clone();
                    bad[i] ^= mask;
                    assert_eq!(parse_stored_member(&bad), None, "{n} {i} {mask}");
                }
            }
        }
    }
}
