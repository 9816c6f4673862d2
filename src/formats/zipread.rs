//! A strict zip reader for evidence bundles (docs/FORMAT.md section 13.7).
//!
//! A zip file can be read more than one way. Readers disagree on which end record counts when
//! the file holds several (one may hide in the zip comment), on whether a local header or the
//! central directory names a member, on which of two members with one name wins, and on what
//! the bytes between members are. A bundle that one reader sees one way and another reader
//! another way can verify under exhibit while `unzip` or Python shows a forged document. So
//! this reader accepts only zip files with exactly one reading:
//!
//! - one end-of-central-directory record, in the last 22 bytes, with no comment (zip64 end
//!   records only where the locator right before it says so);
//! - a central directory that ends where the end records begin and whose entries parse exactly;
//! - every local header agreeing with its central entry (name, method, flags, CRC-32, sizes);
//! - members that tile the file from byte 0 to the central directory: no prefix, gap or overlap;
//! - unique, safe ASCII names, no name both a file and a directory, no empty directory entries,
//!   no symbolic links or other special files;
//! - stored or deflated data only, no encryption, no data descriptors, only well-known extra
//!   fields; and, when read, exactly the declared size and CRC-32, with no compressed byte left
//!   over.
//!
//! The structure is parsed once ([`read_index`]); members are then read through
//! [`open_entry`], which checks size and CRC-32 as it streams. Every refusal is one line.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Seek, SeekFrom};

/// Most entries (files and directories) a zip may have.
pub const MAX_ENTRIES: usize = 100_000;
/// Largest central directory read into memory: far above what MAX_ENTRIES safe names need.
const MAX_CENTRAL_DIRECTORY: u64 = 64 << 20;
/// Longest member name, in bytes.
pub const MAX_NAME: usize = 255;

const EOCD_SIG: &[u8; 4] = b"PK\x05\x06";
const ZIP64_EOCD_SIG: &[u8; 4] = b"PK\x06\x06";
const ZIP64_LOCATOR_SIG: &[u8; 4] = b"PK\x06\x07";
const CENTRAL_SIG: &[u8; 4] = b"PK\x01\x02";
const LOCAL_SIG: &[u8; 4] = b"PK\x03\x04";
const EOCD_LEN: u64 = 22;
const ZIP64_EOCD_LEN: u64 = 56;
const ZIP64_LOCATOR_LEN: u64 = 20;
const LOCAL_HEADER_LEN: u64 = 30;
const CENTRAL_HEADER_LEN: usize = 46;
const U16_MAX: u64 = 0xFFFF;
const U32_MAX: u64 = 0xFFFF_FFFF;

/// General-purpose flag bits a member may carry: 1 and 2 (deflate speed options, informational)
/// and 11 (names are UTF-8; ours are ASCII, so it changes nothing). Bit 0 and 6 are encryption,
/// bit 3 a data descriptor (sizes after the data, which a streaming reader must guess at),
/// bit 13 masked headers; these and the reserved bits are refused.
const ALLOWED_FLAGS: u16 = (1 << 1) | (1 << 2) | (1 << 11);

/// Extra fields a member may carry: zip64 sizes and offsets, and timestamps or owners that
/// Info-ZIP, 7-Zip and Windows add. Anything else may carry meaning to some reader (Info-ZIP's
/// Unicode path field 0x7075 gives a member another name in `unzip`), so it is refused.
const ALLOWED_EXTRA: &[(u16, &str)] = &[
    (0x0001, "zip64"),
    (0x000a, "NTFS times"),
    (0x5455, "extended timestamp"),
    (0x5855, "Info-ZIP Unix (old)"),
    (0x7855, "Info-ZIP Unix"),
    (0x7875, "Info-ZIP Unix owner"),
];

/// Why a zip is refused: one line, without the file name (the caller adds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipError(pub String);

impl std::fmt::Display for ZipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ZipError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ZipError> {
    Err(ZipError(msg.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
}

/// One member, as the central directory and its local header agree it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name, ASCII; a directory's ends in `/`.
    pub name: String,
    pub is_dir: bool,
    pub method: Method,
    /// General-purpose flags (only the bits in ALLOWED_FLAGS can be set).
    pub flags: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    /// Uncompressed size: the member's content has exactly this many bytes.
    pub size: u64,
    pub header_offset: u64,
    /// Where the member's (compressed) data starts.
    pub data_offset: u64,
}

/// The members of a zip, in file order (which is how they tile the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipIndex {
    pub entries: Vec<Entry>,
    /// Whether the zip64 end records are present.
    pub zip64: bool,
}

/// A member name exhibit accepts: 1 to 255 bytes of ASCII letters, digits, `.`, `_`, `-`,
/// separated by single `/`, each part starting with a letter or digit. So no absolute path, no
/// `..`, no empty part, nothing a shell or file system reads specially (spaces, quotes, `\`,
/// `:`, a leading `-` or `.`). `name` is without a directory entry's final `/`.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.split('/').all(|part| {
            part.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn read_at<R: Read + Seek>(r: &mut R, offset: u64, len: usize) -> Result<Vec<u8>, ZipError> {
    let mut buf = vec![0u8; len];
    r.seek(SeekFrom::Start(offset))
        .and_then(|_| r.read_exact(&mut buf))
        .map_err(|e| ZipError(format!("cannot read {len} bytes at offset {offset}: {e}")))?;
    Ok(buf)
}

/// The extra fields of one header: each (id, length, data) in turn, filling the block exactly,
/// each id at most once and on the allowed list. Returns the zip64 field's data, if any.
fn extra_fields<'a>(extra: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, ZipError> {
    let mut zip64 = None;
    let mut seen = HashSet::new();
    let mut at = 0;
    while at < extra.len() {
        if extra.len() - at < 4 {
            return err(format!("{name}: malformed extra field block"));
        }
        let (id, len) = (u16_at(extra, at), u16_at(extra, at + 2) as usize);
        let data = extra
            .get(at + 4..at + 4 + len)
            .ok_or_else(|| ZipError(format!("{name}: malformed extra field block")))?;
        if !ALLOWED_EXTRA.iter().any(|(a, _)| *a == id) {
            let what = match id {
                0x7075 => {
                    " (Info-ZIP Unicode path: it gives the member another name in some readers)"
                }
                0x6375 => " (Info-ZIP Unicode comment)",
                0x0017 => " (strong encryption)",
                _ => "",
            };
            return err(format!(
                "{name}: extra field 0x{id:04x}{what} is not accepted"
            ));
        }
        if !seen.insert(id) {
            return err(format!("{name}: extra field 0x{id:04x} appears twice"));
        }
        if id == 0x0001 {
            zip64 = Some(data);
        }
        at += 4 + len;
    }
    Ok(zip64)
}

/// Read and check the whole structure of a zip: end records, central directory, every local
/// header, the tiling of the file and the names. Reads no member content.
pub fn read_index<R: Read + Seek>(r: &mut R) -> Result<ZipIndex, ZipError> {
    let len = r
        .seek(SeekFrom::End(0))
        .map_err(|e| ZipError(format!("cannot read its length: {e}")))?;
    if len < EOCD_LEN {
        return err(format!(
            "{len} bytes, too short to be a zip (it may be truncated)"
        ));
    }
    let eocd_at = len - EOCD_LEN;
    let eocd = read_at(r, eocd_at, EOCD_LEN as usize)?;
    if &eocd[..4] != EOCD_SIG {
        return Err(no_end_record(r, len));
    }
    let comment_len = u16_at(&eocd, 20);
    if comment_len != 0 {
        // Not reachable when the last 22 bytes are an end record with comment length 0, but a
        // record there declaring a comment is malformed too.
        return err(format!(
            "its end record declares a {comment_len}-byte comment that is not there"
        ));
    }
    let disk = u16_at(&eocd, 4) as u64;
    let cd_disk = u16_at(&eocd, 6) as u64;
    let entries_here = u16_at(&eocd, 8) as u64;
    let entries32 = u16_at(&eocd, 10) as u64;
    let cd_size32 = u32_at(&eocd, 12) as u64;
    let cd_offset32 = u32_at(&eocd, 16) as u64;

    // Zip64: used exactly when its locator sits right before the end record.
    let locator = if eocd_at >= ZIP64_LOCATOR_LEN {
        let loc = read_at(r, eocd_at - ZIP64_LOCATOR_LEN, ZIP64_LOCATOR_LEN as usize)?;
        (&loc[..4] == ZIP64_LOCATOR_SIG).then_some(loc)
    } else {
        None
    };
    let (entries, cd_size, cd_offset, cd_end, zip64) = match locator {
        Some(loc) => {
            let (z_disk, z_offset, disks) = (u32_at(&loc, 4), u64_at(&loc, 8), u32_at(&loc, 16));
            if z_disk != 0 || disks != 1 {
                return err("it spans several disks (split zips are not supported)");
            }
            let z_at = eocd_at - ZIP64_LOCATOR_LEN;
            if z_offset.checked_add(ZIP64_EOCD_LEN) != Some(z_at) {
                return err("its zip64 end record is not right before the zip64 locator");
            }
            let z = read_at(r, z_offset, ZIP64_EOCD_LEN as usize)?;
            if &z[..4] != ZIP64_EOCD_SIG {
                return err("its zip64 locator points to no zip64 end record");
            }
            if u64_at(&z, 4) != ZIP64_EOCD_LEN - 12 {
                return err("its zip64 end record has extensible data (not supported)");
            }
            let (zd, zcd) = (u32_at(&z, 16) as u64, u32_at(&z, 20) as u64);
            let (here, total) = (u64_at(&z, 24), u64_at(&z, 32));
            let (size, offset) = (u64_at(&z, 40), u64_at(&z, 48));
            if zd != 0 || zcd != 0 || here != total {
                return err("it spans several disks (split zips are not supported)");
            }
            // The 32-bit record must say the same, or hold the "see zip64" value.
            let agrees = |v32: u64, max: u64, v64: u64| v32 == max || v32 == v64;
            if disk != 0
                || cd_disk != 0
                || !agrees(entries_here, U16_MAX, total)
                || !agrees(entries32, U16_MAX, total)
                || !agrees(cd_size32, U32_MAX, size)
                || !agrees(cd_offset32, U32_MAX, offset)
            {
                return err("its end record and zip64 end record disagree");
            }
            (total, size, offset, z_offset, true)
        }
        None => {
            if disk != 0 || cd_disk != 0 || entries_here != entries32 {
                return err("it spans several disks (split zips are not supported)");
            }
            (entries32, cd_size32, cd_offset32, eocd_at, false)
        }
    };
    if entries > MAX_ENTRIES as u64 {
        return err(format!("{entries} members, more than {MAX_ENTRIES}"));
    }
    if cd_offset.checked_add(cd_size) != Some(cd_end) {
        return err(
            "its central directory does not end where the end record begins (data between \
             them, or a second end record)",
        );
    }
    if cd_size > MAX_CENTRAL_DIRECTORY {
        return err(format!(
            "its central directory of {cd_size} bytes is larger than {MAX_CENTRAL_DIRECTORY}"
        ));
    }
    if cd_size < entries * CENTRAL_HEADER_LEN as u64 {
        return err("its central directory is too small for the members it declares");
    }
    let cd = read_at(r, cd_offset, cd_size as usize)?;

    let mut list = Vec::with_capacity(entries as usize);
    let mut at = 0usize;
    for i in 0..entries {
        let h = cd
            .get(at..at + CENTRAL_HEADER_LEN)
            .ok_or_else(|| ZipError(format!("central directory entry {i} is truncated")))?;
        if &h[..4] != CENTRAL_SIG {
            return err(format!(
                "central directory entry {i} has no valid signature"
            ));
        }
        let made_by = u16_at(h, 4);
        let flags = u16_at(h, 8);
        let method = u16_at(h, 10);
        let crc32 = u32_at(h, 16);
        let csize32 = u32_at(h, 20) as u64;
        let size32 = u32_at(h, 24) as u64;
        let (n, m, k) = (
            u16_at(h, 28) as usize,
            u16_at(h, 30) as usize,
            u16_at(h, 32) as usize,
        );
        let disk_start = u16_at(h, 34) as u64;
        let external = u32_at(h, 38);
        let offset32 = u32_at(h, 42) as u64;
        let rest = cd
            .get(at + CENTRAL_HEADER_LEN..at + CENTRAL_HEADER_LEN + n + m + k)
            .ok_or_else(|| ZipError(format!("central directory entry {i} is truncated")))?;
        at += CENTRAL_HEADER_LEN + n + m + k;
        let (name_raw, extra) = (&rest[..n], &rest[n..n + m]);
        let name = match std::str::from_utf8(name_raw) {
            Ok(s) if s.is_ascii() && !s.is_empty() => s.to_string(),
            _ => {
                return err(format!(
                    "member {i} has a name that is not ASCII: {:?}",
                    String::from_utf8_lossy(name_raw)
                ))
            }
        };
        let is_dir = name.ends_with('/');
        let bare = name.strip_suffix('/').unwrap_or(&name);
        if !safe_name(bare) {
            return err(format!(
                "unsafe member name {name:?} (only ASCII letters, digits, '.', '_', '-' and '/' \
                 separators, each part starting with a letter or digit, at most {MAX_NAME} bytes)"
            ));
        }
        if k != 0 {
            return err(format!("{name}: has a comment (members carry none)"));
        }
        if flags & !ALLOWED_FLAGS != 0 {
            let why = if flags & 1 != 0 || flags & (1 << 6) != 0 {
                "it is encrypted"
            } else if flags & (1 << 3) != 0 {
                "it uses a data descriptor (sizes after the data); re-zip with Info-ZIP zip, \
                 7-Zip or Python's zipfile"
            } else {
                "unsupported general-purpose flags"
            };
            return err(format!("{name}: flags 0x{flags:04x}: {why}"));
        }
        let method = match method {
            0 => Method::Stored,
            8 => Method::Deflated,
            other => {
                return err(format!(
                    "{name}: compression method {other} is not supported (only stored and \
                     deflate)"
                ))
            }
        };
        // Zip64 values, in their fixed order, for exactly the fields set to the maximum.
        let zip64 = extra_fields(extra, &name)?;
        let mut z = zip64.unwrap_or_default();
        let mut take64 = |v32: u64, max: u64, width: usize| -> Result<u64, ZipError> {
            if v32 != max {
                return Ok(v32);
            }
            if z.len() < width {
                return err(format!(
                    "{name}: a size or offset says 'see zip64' but the zip64 field lacks it"
                ));
            }
            let v = if width == 8 {
                u64_at(z, 0)
            } else {
                u32_at(z, 0) as u64
            };
            z = &z[width..];
            Ok(v)
        };
        let size = take64(size32, U32_MAX, 8)?;
        let compressed_size = take64(csize32, U32_MAX, 8)?;
        let header_offset = take64(offset32, U32_MAX, 8)?;
        let disk_start = take64(disk_start, U16_MAX, 4)?;
        if !z.is_empty() || zip64.is_some_and(|d| d.is_empty()) {
            return err(format!(
                "{name}: its zip64 field holds values the header does not mark"
            ));
        }
        if disk_start != 0 {
            return err("it spans several disks (split zips are not supported)");
        }
        // Unix file types (hosts 3 = Unix, 19 = OS X): only regular files and directories.
        let host = made_by >> 8;
        if host == 3 || host == 19 {
            let kind = (external >> 16) & 0o170000;
            let ok = match kind {
                0 => true,
                0o040000 => is_dir,
                0o100000 => !is_dir,
                _ => false,
            };
            if !ok {
                let what = match kind {
                    0o120000 => "a symbolic link",
                    0o040000 => "a directory with a file's name",
                    0o100000 => "a file with a directory's name",
                    _ => "a special file",
                };
                return err(format!("{name}: is {what}"));
            }
        }
        if method == Method::Stored && compressed_size != size {
            return err(format!(
                "{name}: stored, but its compressed size {compressed_size} differs from its size \
                 {size}"
            ));
        }
        if is_dir && size != 0 {
            return err(format!(
                "{name}: a directory entry with {size} bytes of content"
            ));
        }
        list.push(Entry {
            name,
            is_dir,
            method,
            flags,
            crc32,
            compressed_size,
            size,
            header_offset,
            data_offset: 0,
        });
    }
    if at != cd.len() {
        return err(format!(
            "{} bytes after the last central directory entry",
            cd.len() - at
        ));
    }
    check_names(&list)?;

    // Local headers, in file order: each must agree with its entry and start where the one
    // before ends, from byte 0 to the central directory.
    list.sort_by_key(|e| e.header_offset);
    let mut pos = 0u64;
    for e in &mut list {
        if e.header_offset != pos {
            return err(if e.header_offset < pos {
                format!("{} overlaps the member before it", e.name)
            } else if pos == 0 {
                format!(
                    "{} bytes before the first member (a prefix such as a self-extractor stub)",
                    e.header_offset
                )
            } else {
                format!(
                    "{} bytes of data between members before {}",
                    e.header_offset - pos,
                    e.name
                )
            });
        }
        if e.header_offset.saturating_add(LOCAL_HEADER_LEN) > cd_offset {
            return err(format!(
                "{}: its local header runs into the central directory",
                e.name
            ));
        }
        let h = read_at(r, e.header_offset, LOCAL_HEADER_LEN as usize)?;
        if &h[..4] != LOCAL_SIG {
            return err(format!(
                "{}: no local header where the central directory says",
                e.name
            ));
        }
        let (n, m) = (u16_at(&h, 26) as u64, u16_at(&h, 28) as u64);
        let data_offset = e.header_offset + LOCAL_HEADER_LEN + n + m;
        if data_offset > cd_offset {
            return err(format!(
                "{}: its local header runs into the central directory",
                e.name
            ));
        }
        let rest = read_at(r, e.header_offset + LOCAL_HEADER_LEN, (n + m) as usize)?;
        let (name_raw, extra) = rest.split_at(n as usize);
        let zip64 = extra_fields(extra, &e.name)?;
        let (csize32, size32) = (u32_at(&h, 18) as u64, u32_at(&h, 22) as u64);
        let (size, csize) = match zip64 {
            // A local zip64 field holds both sizes, and the header both "see zip64" values.
            Some(z) if z.len() == 16 && csize32 == U32_MAX && size32 == U32_MAX => {
                (u64_at(z, 0), u64_at(z, 8))
            }
            Some(_) => {
                return err(format!(
                    "{}: malformed zip64 field in its local header",
                    e.name
                ))
            }
            None => (size32, csize32),
        };
        let method = match e.method {
            Method::Stored => 0,
            Method::Deflated => 8,
        };
        let mismatch = if name_raw != e.name.as_bytes() {
            Some("name")
        } else if u16_at(&h, 6) != e.flags {
            Some("flags")
        } else if u16_at(&h, 8) != method {
            Some("compression method")
        } else if u32_at(&h, 14) != e.crc32 {
            Some("CRC-32")
        } else if size != e.size || csize != e.compressed_size {
            Some("sizes")
        } else {
            None
        };
        if let Some(what) = mismatch {
            return err(format!(
                "{}: its local header and the central directory disagree on the {what}",
                e.name
            ));
        }
        let end = data_offset
            .checked_add(e.compressed_size)
            .filter(|&end| end <= cd_offset)
            .ok_or_else(|| {
                ZipError(format!(
                    "{}: its data runs into the central directory",
                    e.name
                ))
            })?;
        e.data_offset = data_offset;
        pos = end;
    }
    if pos != cd_offset {
        return err(format!(
            "{} bytes of data between the last member and the central directory",
            cd_offset - pos
        ));
    }
    Ok(ZipIndex {
        entries: list,
        zip64,
    })
}

/// Names must be unique (also ignoring ASCII case, as case-insensitive file systems extract
/// them), no name may be both a file and a directory, and a directory entry must be the parent
/// of some member (an empty one carries nothing anyone checks).
fn check_names(list: &[Entry]) -> Result<(), ZipError> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for e in list {
        if let Some(first) = seen.insert(e.name.to_ascii_lowercase(), &e.name) {
            return err(if first == e.name {
                format!("member {:?} appears twice", e.name)
            } else {
                format!("members {first:?} and {:?} differ only in case", e.name)
            });
        }
    }
    let mut parents = HashSet::new();
    for e in list {
        let bare = e.name.trim_end_matches('/').to_ascii_lowercase();
        let mut at = 0;
        while let Some(i) = bare[at..].find('/') {
            parents.insert(bare[..at + i + 1].to_string());
            at += i + 1;
        }
    }
    let dirs: HashSet<String> = list
        .iter()
        .filter(|e| e.is_dir)
        .map(|e| e.name.to_ascii_lowercase())
        .collect();
    for e in list {
        let lower = e.name.to_ascii_lowercase();
        if !e.is_dir && dirs.contains(&format!("{lower}/")) {
            return err(format!(
                "{:?} is both a file and a directory (there is a directory entry of that name)",
                e.name
            ));
        }
        if e.is_dir && !parents.contains(&lower) {
            return err(format!("directory entry {:?} holds no member", e.name));
        }
        if !e.is_dir && parents.contains(&format!("{lower}/")) {
            return err(format!(
                "{:?} is both a file and a directory (a member's name begins with it and '/')",
                e.name
            ));
        }
    }
    Ok(())
}

/// Why the last 22 bytes are not an end record: a comment or trailing data after one, or none.
fn no_end_record<R: Read + Seek>(r: &mut R, len: u64) -> ZipError {
    let tail_len = len.min(EOCD_LEN + 0xFFFF);
    let found = read_at(r, len - tail_len, tail_len as usize)
        .ok()
        .and_then(|t| t.windows(4).rposition(|w| w == EOCD_SIG));
    match found {
        Some(i) if i as u64 + EOCD_LEN <= tail_len => ZipError(format!(
            "{} bytes follow its last end-of-central-directory record (a zip comment or trailing \
             data; exhibit accepts neither, as a second end record can hide there)",
            tail_len - i as u64 - EOCD_LEN
        )),
        _ => ZipError("no end-of-central-directory record: not a zip, or truncated".to_string()),
    }
}

/// Stream a member's content, checking it against the entry: never more than `size` bytes,
/// and at the end exactly `size` bytes, the CRC-32, and (deflate) a complete stream that uses
/// every compressed byte.
pub fn open_entry<'a, R: Read + Seek>(r: &'a mut R, e: &Entry) -> io::Result<EntryReader<'a, R>> {
    r.seek(SeekFrom::Start(e.data_offset))?;
    Ok(EntryReader {
        inner: r.take(e.compressed_size),
        entry: e.clone(),
        crc: flate2::Crc::new(),
        produced: 0,
        inflate: (e.method == Method::Deflated).then(|| Inflate {
            state: flate2::Decompress::new(false),
            buf: vec![0u8; 64 << 10].into_boxed_slice(),
            start: 0,
            end: 0,
            ended: false,
        }),
        done: false,
    })
}

struct Inflate {
    state: flate2::Decompress,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    ended: bool,
}

pub struct EntryReader<'a, R> {
    inner: io::Take<&'a mut R>,
    entry: Entry,
    crc: flate2::Crc,
    produced: u64,
    inflate: Option<Inflate>,
    done: bool,
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl<R: Read> EntryReader<'_, R> {
    /// All content read: check what only the end can tell.
    fn finish(&mut self) -> io::Result<usize> {
        let e = &self.entry;
        if self.produced != e.size {
            return Err(bad(format!(
                "content is {} bytes, not the declared {}",
                self.produced, e.size
            )));
        }
        if self.crc.sum() != e.crc32 {
            return Err(bad("content fails its CRC-32".into()));
        }
        if let Some(inf) = &self.inflate {
            if !inf.ended {
                return Err(bad("its deflate stream is truncated".into()));
            }
            let left = (inf.end - inf.start) as u64 + self.inner.limit();
            if left != 0 {
                return Err(bad(format!(
                    "{left} compressed bytes follow the end of its deflate stream"
                )));
            }
        }
        self.done = true;
        Ok(0)
    }

    fn emit(&mut self, out: &[u8]) -> io::Result<usize> {
        self.produced += out.len() as u64;
        if self.produced > self.entry.size {
            return Err(bad(format!(
                "content is longer than the declared {} bytes",
                self.entry.size
            )));
        }
        self.crc.update(out);
        Ok(out.len())
    }
}

impl<R: Read> Read for EntryReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        let Some(inf) = self.inflate.as_mut() else {
            // Stored: the data is the content; read at most one byte past the declared size
            // is impossible here, as compressed_size == size was checked.
            let n = self.inner.read(out)?;
            if n == 0 {
                if self.inner.limit() != 0 {
                    return Err(bad("its data is truncated".into()));
                }
                return self.finish();
            }
            return self.emit(&out[..n]);
        };
        loop {
            if inf.ended {
                return self.finish();
            }
            if inf.start == inf.end && self.inner.limit() > 0 {
                let n = self.inner.read(&mut inf.buf)?;
                if n == 0 {
                    return Err(bad("its data is truncated".into()));
                }
                (inf.start, inf.end) = (0, n);
            }
            // Room for one byte more than declared, so that a bomb lying about its size is
            // caught after one byte, not after filling memory.
            let room = (self.entry.size - self.produced.min(self.entry.size)).saturating_add(1);
            let want = out.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            let (in0, out0) = (inf.state.total_in(), inf.state.total_out());
            let status = inf
                .state
                .decompress(
                    &inf.buf[inf.start..inf.end],
                    &mut out[..want],
                    flate2::FlushDecompress::None,
                )
                .map_err(|e| bad(format!("invalid deflate data: {e}")))?;
            let used = (inf.state.total_in() - in0) as usize;
            let made = (inf.state.total_out() - out0) as usize;
            inf.start += used;
            if status == flate2::Status::StreamEnd {
                inf.ended = true;
            }
            if made > 0 {
                return self.emit(&out[..made]);
            }
            if used == 0 && !inf.ended {
                // No progress: out of input (truncated), or a stream the inflater cannot
                // advance.
                return Err(bad(if inf.start == inf.end && self.inner.limit() == 0 {
                    "its deflate stream is truncated".into()
                } else {
                    "its deflate stream does not advance".into()
                }));
            }
        }
    }
}

/// Read a whole member into memory (for tests and small members).
pub fn read_entry<R: Read + Seek>(r: &mut R, e: &Entry) -> io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(e.size.min(1 << 20) as usize);
    open_entry(r, e)?.read_to_end(&mut v)?;
    Ok(v)
}

/// For zips from other tools (WACZ import), read with a lenient reader: the number of
/// central-directory entries the end record declares (zip64 aware), so that a name that
/// appears twice, which a reader indexing by name would shadow, is noticed.
/// The number of central-directory entries the zip's end record declares (zip64 aware).
pub fn central_directory_entries(path: &std::path::Path) -> std::result::Result<u64, String> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    let tail_len = len.min(22 + 65_535 + 20);
    let mut tail = vec![0u8; tail_len as usize];
    f.seek(SeekFrom::Start(len - tail_len))
        .map_err(|e| e.to_string())?;
    f.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == *b"PK\x05\x06")
        .ok_or("no end of central directory record; the file may be truncated")?;
    let total = u16::from_le_bytes([tail[eocd + 10], tail[eocd + 11]]) as u64;
    if total != 0xFFFF {
        return Ok(total);
    }
    // Zip64: the locator just before the end record gives the zip64 end record's offset.
    let loc = eocd
        .checked_sub(20)
        .filter(|&l| tail[l..l + 4] == *b"PK\x06\x07")
        .ok_or("bad zip64 locator")?;
    let off = u64::from_le_bytes(tail[loc + 8..loc + 16].try_into().expect("8 bytes"));
    let mut rec = [0u8; 40];
    f.seek(SeekFrom::Start(off)).map_err(|e| e.to_string())?;
    f.read_exact(&mut rec).map_err(|e| e.to_string())?;
    if rec[..4] != *b"PK\x06\x06" {
        return Err("bad zip64 end record".into());
    }
    Ok(u64::from_le_bytes(rec[32..40].try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::{Cursor, Write};

    /// Every member's name and content, or the first refusal (structure or content).
    fn read_all(zip: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut r = Cursor::new(zip);
        let index = read_index(&mut r).map_err(|e| e.0)?;
        let mut out = Vec::new();
        for e in &index.entries {
            let bytes = read_entry(&mut r, e).map_err(|err| format!("{}: {err}", e.name))?;
            out.push((e.name.clone(), bytes));
        }
        out.sort();
        Ok(out)
    }

    /// Write a zip with the `zip` crate, as exhibit's writer does.
    fn with_zip_crate(members: &[(String, Vec<u8>, bool, bool)], dirs: &[String]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for d in dirs {
            w.add_directory(d.as_str(), zip::write::SimpleFileOptions::DEFAULT)
                .unwrap();
        }
        for (name, data, deflate, large) in members {
            let opts = zip::write::SimpleFileOptions::DEFAULT
                .compression_method(if *deflate {
                    zip::CompressionMethod::Deflated
                } else {
                    zip::CompressionMethod::Stored
                })
                .large_file(*large);
            w.start_file(name.as_str(), opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// A hand-made member, for zips no ordinary writer makes.
    #[derive(Clone)]
    struct Raw {
        name: Vec<u8>,
        local_name: Option<Vec<u8>>,
        stored: Vec<u8>,
        /// Bytes after the data that no header accounts for.
        pad: Vec<u8>,
        method: u16,
        flags: u16,
        made_by: u16,
        external: u32,
        extra: Vec<u8>,
        crc: u32,
        size: u32,
    }

    fn raw(name: &str, data: &[u8]) -> Raw {
        Raw {
            name: name.as_bytes().to_vec(),
            local_name: None,
            stored: data.to_vec(),
            pad: Vec::new(),
            method: 0,
            flags: 0,
            made_by: 3 << 8 | 20,
            external: 0o100644 << 16,
            extra: Vec::new(),
            crc: crc(data),
            size: data.len() as u32,
        }
    }

    fn deflated(name: &str, data: &[u8]) -> Raw {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        Raw {
            stored: e.finish().unwrap(),
            method: 8,
            ..raw(name, data)
        }
    }

    fn crc(data: &[u8]) -> u32 {
        let mut c = flate2::Crc::new();
        c.update(data);
        c.sum()
    }

    /// Local headers and data, then the central directory and an end record (+ `comment`).
    fn build(members: &[Raw], prefix: &[u8], comment: &[u8]) -> Vec<u8> {
        let mut out = prefix.to_vec();
        let mut cd = Vec::new();
        for m in members {
            let offset = out.len() as u32;
            let local_name = m.local_name.as_ref().unwrap_or(&m.name);
            out.extend_from_slice(LOCAL_SIG);
            for v in [20u16, m.flags, m.method, 0, 0x21] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [m.crc, m.stored.len() as u32, m.size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(local_name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(m.extra.len() as u16).to_le_bytes());
            out.extend_from_slice(local_name);
            out.extend_from_slice(&m.extra);
            out.extend_from_slice(&m.stored);
            out.extend_from_slice(&m.pad);
            cd.extend_from_slice(CENTRAL_SIG);
            for v in [m.made_by, 20, m.flags, m.method, 0, 0x21] {
                cd.extend_from_slice(&v.to_le_bytes());
            }
            for v in [m.crc, m.stored.len() as u32, m.size] {
                cd.extend_from_slice(&v.to_le_bytes());
            }
            for v in [m.name.len() as u16, m.extra.len() as u16, 0, 0, 0] {
                cd.extend_from_slice(&v.to_le_bytes());
            }
            cd.extend_from_slice(&m.external.to_le_bytes());
            cd.extend_from_slice(&offset.to_le_bytes());
            cd.extend_from_slice(&m.name);
            cd.extend_from_slice(&m.extra);
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&cd);
        out.extend_from_slice(&eocd(
            members.len() as u16,
            cd.len() as u32,
            cd_offset,
            comment.len() as u16,
        ));
        out.extend_from_slice(comment);
        out
    }

    fn eocd(n: u16, cd_size: u32, cd_offset: u32, comment: u16) -> Vec<u8> {
        let mut v = EOCD_SIG.to_vec();
        for x in [0u16, 0, n, n] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&cd_size.to_le_bytes());
        v.extend_from_slice(&cd_offset.to_le_bytes());
        v.extend_from_slice(&comment.to_le_bytes());
        v
    }

    fn refused(zip: &[u8], needle: &str) {
        match read_all(zip) {
            Ok(m) => panic!("accepted, expected a refusal with {needle:?}: {m:?}"),
            Err(e) => assert!(e.contains(needle), "refusal {e:?} does not say {needle:?}"),
        }
    }

    fn two() -> Vec<Raw> {
        vec![raw("a/one.txt", b"one\n"), deflated("b.txt", &[7u8; 300])]
    }

    #[test]
    fn hand_made_zips_are_read() {
        let got = read_all(&build(&two(), b"", b"")).unwrap();
        assert_eq!(
            got,
            vec![
                ("a/one.txt".into(), b"one\n".to_vec()),
                ("b.txt".into(), vec![7u8; 300])
            ]
        );
        let mut with_dir = two();
        with_dir.insert(
            0,
            Raw {
                external: 0o040755 << 16,
                ..raw("a/", b"")
            },
        );
        assert_eq!(read_all(&build(&with_dir, b"", b"")).unwrap().len(), 3);
    }

    #[test]
    fn every_ambiguity_is_refused() {
        // A comment, with or without a decoy end record in it.
        refused(
            &build(&two(), b"", b"hello"),
            "follow its last end-of-central-directory",
        );
        let genuine = build(&two(), b"", b"");
        let n = genuine.len();
        let cd_offset = u32_at(&genuine, n - 6);
        let cd_size = u32_at(&genuine, n - 10);
        let mut decoy = build(&two(), b"", &eocd(1, cd_size, cd_offset, 0));
        refused(&decoy, "central directory does not end where");
        // The same decoy with the real record's comment length cleared: still two records.
        let l = decoy.len();
        decoy[l - 24..l - 22].copy_from_slice(&[0, 0]);
        refused(&decoy, "central directory does not end where");
        // Prefix, gap, trailing data.
        refused(&build(&two(), b"MZ stub", b""), "before the first member");
        let mut gap = two();
        gap[0].pad = b"hidden".to_vec();
        refused(
            &build(&gap, b"", b""),
            "6 bytes of data between members before b.txt",
        );
        gap = two();
        gap[1].pad = b"hidden".to_vec();
        refused(
            &build(&gap, b"", b""),
            "between the last member and the central directory",
        );
        let mut overlap = build(&two(), b"", b"");
        let second = overlap.windows(4).rposition(|w| w == CENTRAL_SIG).unwrap();
        overlap[second + 42..second + 46].copy_from_slice(&0u32.to_le_bytes());
        refused(&overlap, "overlaps the member before it");
        // Duplicate names, names differing in case, a file that is also a directory.
        refused(
            &build(&[raw("x", b"1"), raw("x", b"2")], b"", b""),
            "appears twice",
        );
        refused(
            &build(&[raw("X", b"1"), raw("x", b"2")], b"", b""),
            "differ only in case",
        );
        refused(
            &build(&[raw("x", b"1"), raw("x/y", b"2")], b"", b""),
            "both a file and a directory",
        );
        let dir_like_file = Raw {
            external: 0o040755 << 16,
            ..raw("b.txt/", b"")
        };
        let mut m = two();
        m.push(dir_like_file);
        refused(&build(&m, b"", b""), "both a file and a directory");
        m = two();
        m.push(Raw {
            external: 0o040755 << 16,
            ..raw("c/", b"")
        });
        refused(&build(&m, b"", b""), "holds no member");
        m = two();
        m.push(Raw {
            external: 0o040755 << 16,
            ..raw("b.txt/", b"")
        });
        m.push(raw("b.txt/c", b""));
        refused(&build(&m, b"", b""), "both a file and a directory");
        // Unsafe names.
        for bad in [
            "../x", "/abs", "a//b", "a/./b", "-n", ".hidden", "a b", "a\\b", "c:x", "é",
        ] {
            refused(&build(&[raw(bad, b"1")], b"", b""), "name");
        }
        // Local header disagreeing with the central directory.
        refused(
            &build(
                &[Raw {
                    local_name: Some(b"y".to_vec()),
                    ..raw("x", b"1")
                }],
                b"",
                b"",
            ),
            "disagree on the name",
        );
        // Special files, encryption, data descriptors, other methods, unknown extra fields.
        refused(
            &build(
                &[Raw {
                    external: 0o120777 << 16,
                    ..raw("x", b"/etc/passwd")
                }],
                b"",
                b"",
            ),
            "symbolic link",
        );
        refused(
            &build(
                &[Raw {
                    flags: 1,
                    ..raw("x", b"1")
                }],
                b"",
                b"",
            ),
            "encrypted",
        );
        refused(
            &build(
                &[Raw {
                    flags: 8,
                    ..raw("x", b"1")
                }],
                b"",
                b"",
            ),
            "data descriptor",
        );
        refused(
            &build(
                &[Raw {
                    method: 12,
                    ..raw("x", b"1")
                }],
                b"",
                b"",
            ),
            "method 12",
        );
        let mut unicode_path = vec![0x75, 0x70, 6, 0, 1, 0, 0, 0, 0, b'y'];
        refused(
            &build(
                &[Raw {
                    extra: unicode_path.clone(),
                    ..raw("x", b"1")
                }],
                b"",
                b"",
            ),
            "Unicode path",
        );
        unicode_path[0] = 0x0a;
        unicode_path[1] = 0x00;
        let mut twice = unicode_path.clone();
        twice.extend_from_slice(&unicode_path);
        refused(
            &build(
                &[Raw {
                    extra: twice,
                    ..raw("x", b"1")
                }],
                b"",
                b"",
            ),
            "appears twice",
        );
        // Content: CRC, a bomb that lies about its size, bytes after the deflate stream, a
        // truncated stream.
        refused(
            &build(
                &[Raw {
                    crc: 1,
                    ..raw("x", b"1")
                }],
                b"",
                b"",
            ),
            "CRC-32",
        );
        let bomb = deflated("x", &[0u8; 100_000]);
        refused(
            &build(&[Raw { size: 100, ..bomb }], b"", b""),
            "longer than the declared",
        );
        let mut trailing = deflated("x", b"content");
        trailing.stored.extend_from_slice(b"junk");
        refused(
            &build(&[trailing], b"", b""),
            "follow the end of its deflate stream",
        );
        let mut cut = deflated("x", &[1u8; 5000]);
        let l = cut.stored.len();
        cut.stored.truncate(l - 3);
        refused(&build(&[cut], b"", b""), "deflate");
        // Truncation of the file.
        let whole = build(&two(), b"", b"");
        refused(&whole[..whole.len() / 2], "end-of-central-directory");
        refused(&whole[..10], "too short");
    }

    #[test]
    fn zip64_records_and_fields_are_read() {
        // large_file: zip64 fields in the local header and central directory of a small file.
        let zip = with_zip_crate(
            &[("big/doc.bin".into(), vec![5u8; 1000], false, true)],
            &["big/".into()],
        );
        assert_eq!(read_all(&zip).unwrap()[1].1, vec![5u8; 1000]);
        // More entries than a 16-bit count holds: the zip64 end records.
        let members: Vec<(String, Vec<u8>, bool, bool)> = (0..65_600)
            .map(|i| (format!("m/{i}"), Vec::new(), false, false))
            .collect();
        let zip = with_zip_crate(&members, &["m/".into()]);
        let index = read_index(&mut Cursor::new(&zip)).unwrap();
        assert!(index.zip64);
        assert_eq!(index.entries.len(), 65_601);
    }

    /// The seeds of the fuzz target: what other writers make is read, the forgeries are not.
    #[test]
    fn other_writers_zips_are_read_and_forgeries_refused() {
        let seed = |name: &str| {
            std::fs::read(format!(
                "{}/fuzz/corpus/zip/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        for ok in [
            "bundle-v2",
            "bundle-v1",
            "rezipped-deflate-dirs",
            "zip64-local-fields",
            "tiny-stored",
            "tiny-deflated",
            "empty-zip",
            "info-zip-extra-fields",
        ] {
            read_all(&seed(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        refused(&seed("decoy-end-record"), "central directory does not end");
        refused(&seed("duplicate-name"), "appears twice");
    }

    fn name_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-zA-Z0-9][a-zA-Z0-9._-]{0,8}", 1..4).prop_map(|p| p.join("/"))
    }

    fn members_strategy() -> impl Strategy<Value = Vec<(String, Vec<u8>, bool, bool)>> {
        proptest::collection::vec(
            (
                name_strategy(),
                proptest::collection::vec(any::<u8>(), 0..600),
                any::<bool>(),
                proptest::bool::weighted(0.1),
            ),
            1..8,
        )
        .prop_map(|mut v| {
            // Unique names, none a directory of another, and one spelling per directory: the
            // reader refuses names (directory entries too) that differ only in case.
            let dirs_of = |n: &str| -> Vec<String> {
                let parts: Vec<&str> = n.split('/').collect();
                (1..parts.len()).map(|i| parts[..i].join("/")).collect()
            };
            let mut kept: Vec<(String, Vec<u8>, bool, bool)> = Vec::new();
            for m in v.drain(..) {
                let l = m.0.to_ascii_lowercase();
                let clash = kept.iter().any(|k| {
                    let kl = k.0.to_ascii_lowercase();
                    kl == l
                        || l.starts_with(&format!("{kl}/"))
                        || kl.starts_with(&format!("{l}/"))
                        || dirs_of(&m.0).iter().any(|dm| {
                            dirs_of(&k.0)
                                .iter()
                                .any(|dk| dk.eq_ignore_ascii_case(dm) && dk != dm)
                        })
                });
                if !clash {
                    kept.push(m);
                }
            }
            kept
        })
    }

    fn parents(members: &[(String, Vec<u8>, bool, bool)]) -> Vec<String> {
        let mut dirs: Vec<String> = members
            .iter()
            .flat_map(|(n, ..)| {
                let parts: Vec<&str> = n.split('/').collect();
                (1..parts.len()).map(move |i| format!("{}/", parts[..i].join("/")))
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// Every byte of a zip with a stored, a deflated and a zip64-field member and directory
    /// entries, flipped three ways: each result is refused or reads exactly the same.
    #[test]
    fn every_flipped_byte_is_refused_or_changes_nothing() {
        let zip = with_zip_crate(
            &[
                ("d/a.txt".into(), b"stored text\n".to_vec(), false, false),
                (
                    "d/e/b.html".into(),
                    b"<p>deflated, deflated, deflated</p>".to_vec(),
                    true,
                    false,
                ),
                ("c.bin".into(), vec![0, 1, 2, 255], false, true),
            ],
            &["d/".into(), "d/e/".into()],
        );
        let want = read_all(&zip).unwrap();
        let mut refusals = 0;
        for i in 0..zip.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = zip.clone();
                bad[i] ^= mask;
                match read_all(&bad) {
                    Ok(got) => {
                        assert_eq!(got, want, "flipping byte {i} by {mask:#x} changed a member")
                    }
                    Err(_) => refusals += 1,
                }
            }
        }
        // Most bytes matter (timestamps, versions and attributes do not).
        assert!(refusals > zip.len() * 2, "{refusals} of {}", zip.len() * 3);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// What the zip crate writes (stored or deflated, zip64 fields or not, with directory
        /// entries or without, in any order) reads back member for member.
        #[test]
        fn written_zips_read_back(members in members_strategy(), dirs in any::<bool>()) {
            let dirs = if dirs { parents(&members) } else { Vec::new() };
            let zip = with_zip_crate(&members, &dirs);
            let got = read_all(&zip).map_err(TestCaseError::fail)?;
            let mut want: Vec<(String, Vec<u8>)> =
                members.iter().map(|(n, d, ..)| (n.clone(), d.clone())).collect();
            want.extend(dirs.iter().map(|d| (d.clone(), Vec::new())));
            want.sort();
            prop_assert_eq!(got, want);
        }

        /// Flip any byte of a valid zip: the reader refuses it, or reads the very same members.
        /// A changed byte never changes what a member says while the zip still reads.
        #[test]
        fn a_flipped_byte_is_refused_or_changes_nothing(
            members in members_strategy(),
            at in any::<proptest::sample::Index>(),
            mask in 1u8..,
        ) {
            let zip = with_zip_crate(&members, &parents(&members));
            let want = read_all(&zip).map_err(TestCaseError::fail)?;
            let mut bad = zip.clone();
            let i = at.index(bad.len());
            bad[i] ^= mask;
            if let Ok(got) = read_all(&bad) {
                prop_assert_eq!(got, want, "byte {} changed a member", i);
            }
        }

        /// Arbitrary bytes never panic, and whatever is accepted is internally consistent.
        #[test]
        fn arbitrary_bytes_are_refused_cleanly(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = read_all(&data);
        }
    }
}
