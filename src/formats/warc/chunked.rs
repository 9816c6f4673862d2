//! Streaming removal of HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1), as a writer:
//! chunked bytes go in, the content comes out, in constant memory. A WARC stores a response as
//! it crossed the wire, so a payload may still be chunked.

use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex size; `seen` says whether a digit was read.
    Size {
        seen: bool,
    },
    /// After the size: an extension up to the line end.
    Ext,
    SizeLf,
    Data(u64),
    DataCr,
    DataLf,
    /// Trailer section after the last chunk; `empty` says the current line is still empty.
    Trailer {
        empty: bool,
    },
    TrailerLf {
        empty: bool,
    },
    Done,
}

pub struct Dechunker<W: Write> {
    out: W,
    state: State,
    size: u64,
}

fn bad(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("invalid chunked transfer coding: {why}"),
    )
}

impl<W: Write> Dechunker<W> {
    pub fn new(out: W) -> Self {
        Dechunker {
            out,
            state: State::Size { seen: false },
            size: 0,
        }
    }

    /// Insist the chunked stream ended (last chunk and trailer seen) and return the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.state != State::Done {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "chunked transfer coding ended before its last chunk",
            ));
        }
        self.out.flush()?;
        Ok(self.out)
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }
}

impl<W: Write> Write for Dechunker<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            match self.state {
                State::Size { seen } => {
                    let digit = (b as char).to_digit(16);
                    match (digit, b) {
                        (Some(d), _) => {
                            if self.size > (u64::MAX >> 4) {
                                return Err(bad("chunk size too large"));
                            }
                            self.size = (self.size << 4) | d as u64;
                            self.state = State::Size { seen: true };
                        }
                        (None, b';' | b' ' | b'\t') if seen => self.state = State::Ext,
                        (None, b'\r') if seen => self.state = State::SizeLf,
                        (None, b'\n') if seen => self.end_size_line(),
                        _ => return Err(bad("a chunk size is not hexadecimal")),
                    }
                    i += 1;
                }
                State::Ext => {
                    match b {
                        b'\r' => self.state = State::SizeLf,
                        b'\n' => self.end_size_line(),
                        _ => {}
                    }
                    i += 1;
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(bad("CR without LF after a chunk size"));
                    }
                    self.end_size_line();
                    i += 1;
                }
                State::Data(left) => {
                    let n = ((buf.len() - i) as u64).min(left) as usize;
                    self.out.write_all(&buf[i..i + n])?;
                    i += n;
                    self.state = if left == n as u64 {
                        State::DataCr
                    } else {
                        State::Data(left - n as u64)
                    };
                }
                State::DataCr => {
                    match b {
                        b'\r' => self.state = State::DataLf,
                        b'\n' => self.state = State::Size { seen: false },
                        _ => return Err(bad("chunk data longer than its size")),
                    }
                    i += 1;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(bad("CR without LF after chunk data"));
                    }
                    self.state = State::Size { seen: false };
                    i += 1;
                }
                State::Trailer { empty } => {
                    match b {
                        b'\r' => self.state = State::TrailerLf { empty },
                        b'\n' if empty => self.state = State::Done,
                        b'\n' => self.state = State::Trailer { empty: true },
                        _ => self.state = State::Trailer { empty: false },
                    }
                    i += 1;
                }
                State::TrailerLf { empty } => {
                    if b != b'\n' {
                        return Err(bad("CR without LF in the trailer"));
                    }
                    self.state = if empty {
                        State::Done
                    } else {
                        State::Trailer { empty: true }
                    };
                    i += 1;
                }
                State::Done => return Err(bad("bytes after the last chunk")),
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> Dechunker<W> {
    fn end_size_line(&mut self) {
        self.state = if self.size == 0 {
            State::Trailer { empty: true }
        } else {
            State::Data(self.size)
        };
        self.size = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dechunk(input: &[u8], step: usize) -> io::Result<Vec<u8>> {
        let mut d = Dechunker::new(Vec::new());
        for c in input.chunks(step.max(1)) {
            d.write_all(c)?;
        }
        d.finish()
    }

    #[test]
    fn dechunks_in_any_split() {
        let input = b"5;name=v\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for step in 1..input.len() {
            assert_eq!(dechunk(input, step).unwrap(), b"hello, world");
        }
        assert_eq!(dechunk(b"0\r\n\r\n", 3).unwrap(), b"");
        assert_eq!(dechunk(b"A\nabcdefghij\n0\n\n", 2).unwrap(), b"abcdefghij");
    }

    #[test]
    fn refuses_damage() {
        for bad in [
            &b"5\r\nhello"[..],
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"zz\r\n",
            b"\r\n",
            b"0\r\n\r\nextra",
            b"ffffffffffffffffff\r\n",
            b"3\r\nabc\r\n",
        ] {
            assert!(
                dechunk(bad, 4).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
