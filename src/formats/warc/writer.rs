//! A streaming WARC writer: each record is one gzip member (WARC 1.1 Annex D), so an index can
//! point at any record by offset and length, and the file is an ordinary multi-member gzip file.
//!
//! Every member has the same 10-byte header ([`GZIP_HEADER`]: no file name, no time, OS
//! "unknown"), a raw deflate stream at [`LEVEL`], and the standard CRC-32 and size trailer. The
//! header is fixed so that the same records always give the same bytes, and so that exhibit's
//! own verification can refuse a member whose header bytes (which gzip readers ignore) changed.

use flate2::write::DeflateEncoder;
use flate2::Compression;
use std::io::{self, Write};

/// `1f 8b` magic, method 8 (deflate), no flags, MTIME 0, XFL 0, OS 255 (unknown).
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// The deflate level of every member.
pub const LEVEL: u32 = 6;

/// Counts what passes through.
pub struct Counting<W: Write> {
    pub inner: W,
    pub count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
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
}

impl<W: Write> WarcWriter<W> {
    pub fn new(out: W) -> Self {
        WarcWriter {
            out: Counting {
                inner: out,
                count: 0,
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
        })
    }

    pub fn into_inner(self) -> W {
        self.out.inner
    }
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
        assert_eq!(&bytes[b.offset as usize..b.offset as usize + 10], &GZIP_HEADER);
    }
}
