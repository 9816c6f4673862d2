#!/usr/bin/env python3
"""Verify an exhibit evidence bundle against public keys you trust, without exhibit.

usage: python3 verify-bundle.py BUNDLE.zip TRUSTED [TRUSTED ...]

Each TRUSTED is a public key you obtained yourself from the bundle's publisher, or a directory
of them. A key file holds a PEM public key, the 64 hex digits of a raw Ed25519 key, or a
signed-note verifier key (name+hash+base64, as `exhibit keys` prints it). Keys inside the
bundle are never trusted, and nothing inside the bundle is run.

Exit status: 0 verified, 1 not verified (one line says why), 2 usage error.
Needs Python 3.8+ and the `cryptography` package. This is exhibit's docs/verify-bundle.py;
obtain it from exhibit's source repository, not from anyone who sends you a bundle, and check
its SHA-256 against the one in that repository's README.md (docs/FORMAT.md section 13.11).

It checks exhibit-bundle/3, /2 and /1 bundles (docs/FORMAT.md section 13): the zip
structure, strictly (13.7); that the bundle holds exactly the files SHA256SUMS lists, intact;
the key records (section 7.1), followed from the keys you trust: a key one of them added
counts from then on, a retired or compromised one stops counting, and the checkpoint commits
to the list of key records; the seal on SHA256SUMS, the checkpoint, and every manifest, each
signed by a key that counts; each document's SHA-256 and size, and each part a record cites
(version 3: a browser capture's bodies and views, TLS certificates); each inclusion proof against
the signed checkpoint; and every value of exhibit-bundle.json and proof.json against the
signed data.
"""

import base64
import hashlib
import json
import os
import re
import sys
import zlib

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding, PublicFormat, load_pem_public_key)
except ImportError:  # pragma: no cover - environment problem, not a bundle problem
    print("error: this script needs the Python package 'cryptography' (pip install cryptography)")
    sys.exit(2)

FORMATS = ("exhibit-bundle/3", "exhibit-bundle/2", "exhibit-bundle/1")
# The VERIFY.txt of every exhibit-bundle/2 (docs/FORMAT.md section 13.12).
VERIFY_TXT_V2_SHA256 = "30499b429914f2fab3bac9a7a22d1d4586ad746448903175ec232c6121ecf5f9"
# The VERIFY.txt of every exhibit-bundle/3: the text of docs/FORMAT.md section 13.11.
VERIFY_TXT_SHA256 = "c7f2f5527b946f6c8855d92ea594453b835ddcf0ea6dda9803608a0f2d3e021a"
MAX_ENTRIES = 100_000
MAX_CENTRAL_DIRECTORY = 64 << 20
MAX_SMALL_MEMBER = 64 << 20
MAX_SMALL_TOTAL = 512 << 20
MAX_DOCUMENT = 16 << 30
CHUNK = 1 << 20
ALLOWED_FLAGS = (1 << 1) | (1 << 2) | (1 << 11)
ALLOWED_EXTRA = {0x0001, 0x000A, 0x5455, 0x5855, 0x7855, 0x7875}
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
RECORD_ID = re.compile(r"EX-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\Z")
HEX64 = re.compile(r"[0-9a-f]{64}\Z")


class Refused(Exception):
    """The bundle does not verify; the message says why, on one line."""


class UsageError(Exception):
    pass


def sha256(b):
    return hashlib.sha256(b).digest()


def u16(b, i):
    return int.from_bytes(b[i:i + 2], "little")


def u32(b, i):
    return int.from_bytes(b[i:i + 4], "little")


def u64(b, i):
    return int.from_bytes(b[i:i + 8], "little")


# ---------------------------------------------------------------------------------------------
# Keys you trust.

def key_from_text(text, where):
    """The 32 raw bytes of a public key given as PEM, raw hex, or a verifier key."""
    s = text.strip()
    if s.startswith("-----BEGIN PUBLIC KEY-----"):
        try:
            k = load_pem_public_key(s.encode())
        except Exception:
            raise UsageError(f"{where}: not a PEM public key")
        if not isinstance(k, Ed25519PublicKey):
            raise UsageError(f"{where}: not an Ed25519 public key")
        return k.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if re.fullmatch(r"[0-9a-fA-F]{64}", s):
        return bytes.fromhex(s)
    m = re.fullmatch(r"([^+\s]+)\+([0-9a-fA-F]{8})\+([A-Za-z0-9+/=]+)", s)
    if m:
        try:
            vk = base64.b64decode(m.group(3), validate=True)
        except Exception:
            raise UsageError(f"{where}: malformed verifier key")
        if len(vk) != 33 or vk[0] != 1:
            raise UsageError(f"{where}: not an Ed25519 verifier key")
        if sha256(m.group(1).encode() + b"\n" + vk)[:4].hex() != m.group(2).lower():
            raise UsageError(f"{where}: the verifier key's hash does not match its name and key")
        return vk[1:]
    raise UsageError(f"{where}: not a PEM public key, 64 hex digits or a verifier key")


def load_trusted(args):
    """Key ID -> Ed25519PublicKey, from files and directories of key files."""
    files = []
    for a in args:
        if os.path.isdir(a):
            files += sorted(os.path.join(a, n) for n in os.listdir(a)
                            if os.path.isfile(os.path.join(a, n)) and not n.startswith("."))
        else:
            files.append(a)
    keys = {}
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read(1 << 16)
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read key file {path}: {e}")
        raw = key_from_text(text, path)
        keys[sha256(raw)[:8].hex()] = Ed25519PublicKey.from_public_bytes(raw)
    if not keys:
        raise UsageError("no trusted key given")
    return keys


def raw_of(key):
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def verifies(key, signature, message):
    if len(signature) != 64:
        return False
    try:
        key.verify(signature, message)
        return True
    except InvalidSignature:
        return False


# ---------------------------------------------------------------------------------------------
# The zip, read strictly (docs/FORMAT.md 13.7): one reading only.

class Entry:
    __slots__ = ("name", "is_dir", "method", "flags", "crc", "csize", "size", "offset", "data")


def safe_name(name):
    return 0 < len(name) <= 255 and all(NAME_PART.match(p) for p in name.split("/"))


def extra_fields(extra, name):
    """The zip64 field's data (or None), after checking every extra field."""
    seen, zip64, at = set(), None, 0
    while at < len(extra):
        if len(extra) - at < 4:
            raise Refused(f"{name}: malformed extra field block")
        fid, flen = u16(extra, at), u16(extra, at + 2)
        data = extra[at + 4:at + 4 + flen]
        if len(data) != flen:
            raise Refused(f"{name}: malformed extra field block")
        if fid not in ALLOWED_EXTRA:
            raise Refused(f"{name}: extra field 0x{fid:04x} is not accepted")
        if fid in seen:
            raise Refused(f"{name}: extra field 0x{fid:04x} appears twice")
        seen.add(fid)
        if fid == 1:
            zip64 = data
        at += 4 + flen
    return zip64


def read_at(f, offset, n):
    f.seek(offset)
    b = f.read(n)
    if len(b) != n:
        raise Refused("the zip is truncated")
    return b


def read_index(f):
    length = f.seek(0, 2)
    if length < 22:
        raise Refused("too short to be a zip")
    eocd_at = length - 22
    e = read_at(f, eocd_at, 22)
    if e[:4] != b"PK\x05\x06":
        raise Refused("the last 22 bytes are not an end-of-central-directory record "
                      "(a zip comment, trailing data, truncation, or not a zip)")
    if u16(e, 20) != 0:
        raise Refused("its end record declares a comment")
    disk, cd_disk, here, n32 = u16(e, 4), u16(e, 6), u16(e, 8), u16(e, 10)
    size32, off32 = u32(e, 12), u32(e, 16)
    loc = read_at(f, eocd_at - 20, 20) if eocd_at >= 20 else b""
    if loc[:4] == b"PK\x06\x07":
        if u32(loc, 4) != 0 or u32(loc, 16) != 1:
            raise Refused("a zip that spans several disks")
        z_off = u64(loc, 8)
        if z_off + 56 != eocd_at - 20:
            raise Refused("its zip64 end record is not right before the zip64 locator")
        z = read_at(f, z_off, 56)
        if z[:4] != b"PK\x06\x06" or u64(z, 4) != 44:
            raise Refused("malformed zip64 end record")
        if u32(z, 16) != 0 or u32(z, 20) != 0 or u64(z, 24) != u64(z, 32):
            raise Refused("a zip that spans several disks")
        n, cd_size, cd_off, cd_end = u64(z, 32), u64(z, 40), u64(z, 48), z_off

        def agrees(v32, top, v64):
            return v32 == top or v32 == v64
        if disk or cd_disk or not (agrees(here, 0xFFFF, n) and agrees(n32, 0xFFFF, n)
                                   and agrees(size32, 0xFFFFFFFF, cd_size)
                                   and agrees(off32, 0xFFFFFFFF, cd_off)):
            raise Refused("its end record and zip64 end record disagree")
    else:
        if disk or cd_disk or here != n32:
            raise Refused("a zip that spans several disks")
        n, cd_size, cd_off, cd_end = n32, size32, off32, eocd_at
    if n > MAX_ENTRIES:
        raise Refused(f"{n} members, more than {MAX_ENTRIES}")
    if cd_off + cd_size != cd_end:
        raise Refused("its central directory does not end where the end record begins")
    if cd_size > MAX_CENTRAL_DIRECTORY or cd_size < 46 * n:
        raise Refused("its central directory has an impossible size")
    cd = read_at(f, cd_off, cd_size)
    entries, at = [], 0
    for i in range(n):
        h = cd[at:at + 46]
        if len(h) != 46 or h[:4] != b"PK\x01\x02":
            raise Refused(f"central directory entry {i} is malformed")
        nl, ml, kl = u16(h, 28), u16(h, 30), u16(h, 32)
        rest = cd[at + 46:at + 46 + nl + ml + kl]
        if len(rest) != nl + ml + kl:
            raise Refused(f"central directory entry {i} is truncated")
        at += 46 + nl + ml + kl
        try:
            name = rest[:nl].decode("ascii")
        except UnicodeDecodeError:
            raise Refused(f"member {i} has a name that is not ASCII")
        e = Entry()
        e.name, e.is_dir = name, name.endswith("/")
        if not safe_name(name[:-1] if e.is_dir else name):
            raise Refused(f"unsafe member name {name!r}")
        if kl:
            raise Refused(f"{name}: has a comment")
        e.flags = u16(h, 8)
        if e.flags & ~ALLOWED_FLAGS:
            raise Refused(f"{name}: flags 0x{e.flags:04x} (encryption or a data descriptor)")
        method = u16(h, 10)
        if method not in (0, 8):
            raise Refused(f"{name}: compression method {method} is not supported")
        e.method, e.crc = method, u32(h, 16)
        z = extra_fields(rest[nl:nl + ml], name)
        zb = z or b""
        vals = []
        for v32, top, width in ((u32(h, 24), 0xFFFFFFFF, 8), (u32(h, 20), 0xFFFFFFFF, 8),
                                (u32(h, 42), 0xFFFFFFFF, 8), (u16(h, 34), 0xFFFF, 4)):
            if v32 != top:
                vals.append(v32)
                continue
            if len(zb) < width:
                raise Refused(f"{name}: a size or offset says 'see zip64' but the field lacks it")
            vals.append(int.from_bytes(zb[:width], "little"))
            zb = zb[width:]
        if zb or (z is not None and not z):
            raise Refused(f"{name}: its zip64 field holds values the header does not mark")
        e.size, e.csize, e.offset, disk_start = vals
        if disk_start:
            raise Refused("a zip that spans several disks")
        made_by, external = u16(h, 4) >> 8, u32(h, 38)
        if made_by in (3, 19):
            kind = (external >> 16) & 0o170000
            if kind not in (0, 0o040000 if e.is_dir else 0o100000):
                raise Refused(f"{name}: not a plain file or directory")
        if method == 0 and e.csize != e.size:
            raise Refused(f"{name}: stored, but its sizes differ")
        if e.is_dir and e.size:
            raise Refused(f"{name}: a directory entry with content")
        entries.append(e)
    if at != len(cd):
        raise Refused("bytes after the last central directory entry")
    lower = {}
    for e in entries:
        if e.name.lower() in lower:
            raise Refused(f"member {e.name!r} appears twice (or twice but for case)")
        lower[e.name.lower()] = e
    parents = set()
    for e in entries:
        parts = e.name.rstrip("/").lower().split("/")
        parents.update("/".join(parts[:i]) + "/" for i in range(1, len(parts)))
    for e in entries:
        if e.is_dir and e.name.lower() not in parents:
            raise Refused(f"directory entry {e.name!r} holds no member")
        if not e.is_dir and e.name.lower() + "/" in parents:
            raise Refused(f"{e.name!r} is both a file and a directory")
    pos = 0
    for e in sorted(entries, key=lambda e: e.offset):
        if e.offset != pos:
            raise Refused(f"{e.name}: members do not tile the file (a prefix, gap or overlap)")
        h = read_at(f, e.offset, 30)
        if h[:4] != b"PK\x03\x04":
            raise Refused(f"{e.name}: no local header where the central directory says")
        nl, ml = u16(h, 26), u16(h, 28)
        rest = read_at(f, e.offset + 30, nl + ml)
        z = extra_fields(rest[nl:], e.name)
        csize, size = u32(h, 18), u32(h, 22)
        if z is not None:
            if len(z) != 16 or csize != 0xFFFFFFFF or size != 0xFFFFFFFF:
                raise Refused(f"{e.name}: malformed zip64 field in its local header")
            size, csize = u64(z, 0), u64(z, 8)
        if (rest[:nl] != e.name.encode() or u16(h, 6) != e.flags or u16(h, 8) != e.method
                or u32(h, 14) != e.crc or size != e.size or csize != e.csize):
            raise Refused(f"{e.name}: its local header and the central directory disagree")
        e.data = e.offset + 30 + nl + ml
        pos = e.data + e.csize
        if pos > cd_off:
            raise Refused(f"{e.name}: its data runs into the central directory")
    if pos != cd_off:
        raise Refused("data between the last member and the central directory")
    return entries


def content(f, e):
    """A member's content in chunks, checked: size, CRC-32, a complete deflate stream."""
    f.seek(e.data)
    left, produced, crc = e.csize, 0, 0
    d = zlib.decompressobj(-15) if e.method == 8 else None
    pending = b""
    while True:
        if not pending:
            if left == 0:
                break
            pending = f.read(min(CHUNK, left))
            if not pending:
                raise Refused(f"{e.name}: truncated")
            left -= len(pending)
        if d is None:
            out, pending = pending, b""
        else:
            try:
                out = d.decompress(pending, e.size - produced + 1)
            except zlib.error as err:
                raise Refused(f"{e.name}: invalid deflate data ({err})")
            pending = d.unconsumed_tail
        produced += len(out)
        if produced > e.size:
            raise Refused(f"{e.name}: content longer than its declared {e.size} bytes")
        crc = zlib.crc32(out, crc)
        yield out
        if d is not None and d.eof:
            break
    if d is not None and (not d.eof or d.unused_data or pending or left):
        raise Refused(f"{e.name}: its deflate stream is truncated or followed by other bytes")
    if produced != e.size:
        raise Refused(f"{e.name}: content is not its declared {e.size} bytes")
    if crc != e.crc:
        raise Refused(f"{e.name}: fails its CRC-32")


# ---------------------------------------------------------------------------------------------
# The bundle.

def parse_json(b, what):
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise Refused(f"{what}: a member appears twice")
        return dict(pairs)
    try:
        return json.loads(b.decode("utf-8"), object_pairs_hook=no_duplicates)
    except Refused:
        raise
    except Exception:
        raise Refused(f"{what}: not valid JSON")


def same(a, b):
    """Equal, and of the same JSON type (so 1 is not true, nor 1.0)."""
    return type(a) is type(b) and a == b


def expect_keys(obj, keys, what):
    if not isinstance(obj, dict) or list(obj) != list(keys):
        raise Refused(f"{what}: not the fields the format defines, in its order")


def checkpoint_text(text):
    """Origin, tree size, root, extension lines, signed text and signature lines (9.5)."""
    if any(ord(c) < 32 and c != "\n" for c in text):
        raise Refused("checkpoint.txt: contains a control character")
    cut = text.rfind("\n\n")
    if cut < 0 or not text.endswith("\n"):
        raise Refused("checkpoint.txt: malformed signed note")
    body, lines = text[:cut + 1], text[cut + 2:-1].split("\n")
    head = body.split("\n")[:-1]
    if len(head) < 3 or not all(head) or len(lines) > 100:
        raise Refused("checkpoint.txt: malformed checkpoint")
    origin, size, root = head[0], head[1], head[2]
    if not re.fullmatch(r"0|[1-9][0-9]*", size):
        raise Refused("checkpoint.txt: malformed tree size")
    try:
        root = base64.b64decode(root, validate=True)
    except Exception:
        raise Refused("checkpoint.txt: malformed root hash")
    if len(root) != 32 or base64.b64encode(root).decode() != head[2]:
        raise Refused("checkpoint.txt: malformed root hash")
    return origin, int(size), root, head[3:], body, lines


def checkpoint_signers(origin, body, lines, counting):
    """The keys that count for this checkpoint and signed it; every line of theirs verifies."""
    by_hash = {sha256(origin.encode() + b"\n\x01" + raw_of(k))[:4]: i for i, k in counting.items()}
    signers = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            raise Refused("checkpoint.txt: malformed signature line")
        try:
            sig = base64.b64decode(parts[2], validate=True)
        except Exception:
            raise Refused("checkpoint.txt: malformed signature line")
        if parts[1] != origin or sig[:4] not in by_hash:
            continue  # by a key that does not count here, e.g. a witness: ignored
        kid = by_hash[sig[:4]]
        if not verifies(counting[kid], sig[4:], body.encode()):
            raise Refused(f"checkpoint.txt: the signature line of trusted key {kid} does not verify")
        signers.append(kid)
    if not signers:
        raise Refused("checkpoint.txt: no signature by a key you trust (or one they added)")
    return signers


# ---------------------------------------------------------------------------------------------
# The key records (docs/FORMAT.md section 7.1): which keys count, from where in the log.

TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
KEY_ID = re.compile(r"[0-9a-f]{16}\Z")
MANIFESTS = ("exhibit-manifest/1", "exhibit-manifest/2", "exhibit-manifest/3",
             "exhibit-manifest/4", "exhibit-manifest/5")


class Book:
    """The keys that count: the ones you trust, and the ones the key records they signed added,
    with the statuses (retired, compromised) those records gave them."""

    def __init__(self, trusted):
        self.keys = dict(trusted)          # key ID -> Ed25519PublicKey
        self.added = {}                    # key ID -> log index of the record that added it
        self.statuses = {}                 # key ID -> [(log index, status, since)]

    def allows(self, signer, index, signed_at):
        """Whether a signature by `signer` on the record at `index`, signed at `signed_at`,
        counts (section 7.1.3). Times are canonical UTC text, so they compare as strings."""
        if signer not in self.keys:
            return f"key {signer} is not one you trust, nor one they added"
        if signer in self.added and index <= self.added[signer]:
            return f"key {signer} was added only at log index {self.added[signer]}"
        if not isinstance(signed_at, str) or not TIME.match(signed_at):
            return "its signed_at is not a UTC time of the form YYYY-MM-DDTHH:MM:SSZ"
        for e, status, since in self.statuses.get(signer, []):
            if index == e:
                continue
            if status == "retired" and index > e:
                return f"key {signer} was retired at log index {e}"
            if status == "compromised" and (index > e or signed_at >= since):
                return f"key {signer} is compromised since {since} (log index {e})"
        return None

    def checkpoint_keys(self, size):
        """The keys whose signature on a checkpoint of `size` records counts."""
        return {i: k for i, k in self.keys.items()
                if (i not in self.added or size > self.added[i])
                and all(s == "retired" and size <= e + 1 for e, s, _ in self.statuses.get(i, []))}


def statement(b, what):
    """A key statement (section 7.1.1), in its one canonical form."""
    st = parse_json(b, what)
    fields = ["format", "key", "status", "since"]
    if isinstance(st, dict) and "public_key" in st:
        fields.append("public_key")
    if isinstance(st, dict) and "reason" in st:
        fields.append("reason")
    expect_keys(st, fields, what)
    ok = (st["format"] in ("exhibit-key-status/1", "exhibit-key-status/2")
          and isinstance(st["key"], str) and KEY_ID.match(st["key"])
          and st["status"] in ("added", "retired", "compromised")
          and isinstance(st["since"], str) and TIME.match(st["since"])
          and isinstance(st.get("reason", ""), str)
          and (st["status"] == "added") == ("public_key" in st)
          and (st["status"] != "added" or st["format"] == "exhibit-key-status/2"))
    if not ok:
        raise Refused(f"{what}: not a key statement")
    if (json.dumps(st, ensure_ascii=False, separators=(",", ":")) + "\n").encode() != b:
        raise Refused(f"{what}: not in its one canonical form")
    if st["status"] == "added":
        try:
            raw = base64.b64decode(st["public_key"], validate=True)
        except Exception:
            raw = b""
        if (len(raw) != 32 or base64.b64encode(raw).decode() != st["public_key"]
                or sha256(raw)[:8].hex() != st["key"]):
            raise Refused(f"{what}: public_key is not the key {st['key']} it names")
        st["raw"] = raw
    return st


def follow_key_records(trusted, keylog, records, member, hashes, size, extensions):
    """Fold the key records over the keys you trust. Every key record the bundle carries must
    count: one that does not (signed by a key nobody you trust added, malformed, or voided by a
    later compromise) leaves it unclear which keys count, so the bundle is refused."""
    book, facts, counted, founded = Book(trusted), [], [], False
    if keylog is None:
        lines = []
    else:
        try:
            text = keylog.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("keylog.txt: not text")
        if not text or not text.endswith("\n"):
            raise Refused("keylog.txt: empty, or its last line has no newline")
        lines = text[:-1].split("\n")
    parsed, last = [], -1
    for line in lines:
        m = re.fullmatch(r"(0|[1-9][0-9]*) (EX-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}) ([0-9a-f]{16})",
                         line)
        if not m or int(m.group(1)) <= last or int(m.group(1)) >= size:
            raise Refused(f"keylog.txt: malformed, out of log order or uncommitted line {line!r}")
        last = int(m.group(1))
        parsed.append((last, m.group(2), m.group(3)))
    if sorted(r for _, r, _ in parsed) != sorted(records):
        raise Refused("keylog/: does not hold exactly the key records keylog.txt lists")
    for e, rid, kid in parsed:
        d = f"keylog/{rid}/"
        for f in ("manifest.json", "manifest.sig", "statement.json"):
            if f not in records[rid]:
                raise Refused(f"{d}{f}: missing")
        mbytes = member(d + "manifest.json")
        km = parse_json(mbytes, d + "manifest.json")
        if not isinstance(km, dict) or km.get("format") not in MANIFESTS:
            raise Refused(f"{d}manifest.json: not an exhibit manifest")
        signer = km.get("signer")
        if not isinstance(signer, str) or signer not in book.keys:
            raise Refused(f"key record {rid} (log index {e}) is signed by key {signer}, which is "
                          "not a key you trust nor one they added: it cannot be followed")
        if not verifies(book.keys[signer], member(d + "manifest.sig"), mbytes):
            raise Refused(f"key record {rid}: the manifest's signature does not verify")
        why = book.allows(signer, km["log_index"], km["signed_at"])
        if why:
            raise Refused(f"key record {rid}: its signature does not count: {why}")
        if (km["record_id"], km["log_index"], km["method"], km["requested_url"]) != (
                rid, e, "key", "exhibit:key/" + kid):
            raise Refused(f"key record {rid}: its manifest is not the key record keylog.txt lists")
        doc = km["document"]
        if hashes[d + "statement.json"] != (doc["sha256"], doc["size"]):
            raise Refused(f"{d}statement.json: not the document its manifest cites")
        st = statement(member(d + "statement.json"), d + "statement.json")
        if st["key"] != kid:
            raise Refused(f"key record {rid}: its statement is about another key")
        if st["status"] == "added":
            key = Ed25519PublicKey.from_public_bytes(st["raw"])
            if kid in book.keys:
                if raw_of(book.keys[kid]) != st["raw"]:
                    raise Refused(f"key record {rid}: key ID {kid} is taken by another key")
            else:
                book.keys[kid], book.added[kid] = key, e
            if e == 0 and signer == kid:
                founded = True
        else:
            if st["status"] == "compromised" and signer == kid:
                raise Refused(f"key record {rid}: a key cannot mark itself compromised")
            if kid not in book.keys:
                raise Refused(f"key record {rid}: about key {kid}, which is not one that counts")
            book.statuses.setdefault(kid, []).append((e, st["status"], st["since"]))
        counted.append((rid, km))
        facts.append(f"ok  key record {rid} (log index {e}) by key {signer}: key {kid} "
                     f"{st['status']}" + (f" since {st['since']}" if st["status"] ==
                                          "compromised" else ""))
    # A compromise reaches back to `since`: a key record made by that key since then no longer
    # counts, and what it did is unclear; exhibit refuses such a bundle too.
    for rid, km in counted:
        why = book.allows(km["signer"], km["log_index"], km["signed_at"])
        if why:
            raise Refused(f"key record {rid}: a later key record voids it: {why}")
    # The checkpoint commits to exactly these key records (section 9.5).
    want = None
    if keylog is not None:
        want = f"exhibit-key-events {len(parsed)} {hashlib.sha256(keylog).hexdigest()}"
    said = [x for x in extensions if x.startswith("exhibit-key-events ")]
    if said != ([want] if want else []) and not (want and not said and not founded):
        raise Refused("checkpoint.txt: its exhibit-key-events line does not commit to keylog.txt "
                      "(a key record was removed, altered or added)")
    return book, facts, [km["signer"] for _, km in counted]


def parts_of(m):
    """SHA-256 -> size of every part a manifest cites besides its document (FORMAT.md 1.5):
    a browser capture's attachments and response bodies, and every TLS certificate."""
    out, doc = {}, m["document"]["sha256"]
    b = m.get("browser") or {}
    found = [(a["sha256"], a["size"]) for a in b.get("attachments", [])]
    answered = [e["response"] for e in b.get("exchanges", []) if e.get("response")]
    found += [(r["body"]["sha256"], r["body"]["size"]) for r in answered]
    tls = (m.get("http") or {}).get("tls", []) + [r["tls"] for r in answered if r.get("tls")]
    found += [(p["sha256"], p["size"]) for c in tls for p in c["chain"]]
    for sha, size in found:
        if sha != doc:
            out.setdefault(sha, size)
    return out


def inclusion(index, size, leaf, path, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify(path, trusted):
    try:
        f = open(path, "rb")
    except OSError as e:
        raise UsageError(f"cannot open {path}: {e}")
    with f:
        entries = read_index(f)
        small, hashes, total = {}, {}, 0
        for e in entries:
            if e.is_dir:
                for _ in content(f, e):
                    pass
                continue
            doc = e.name.startswith("records/") and not e.name.endswith(
                ("/manifest.json", "/manifest.sig", "/proof.json"))
            if e.size > (MAX_DOCUMENT if doc else MAX_SMALL_MEMBER):
                raise Refused(f"{e.name}: larger than the limit")
            total += 0 if doc else e.size
            if total > MAX_SMALL_TOTAL:
                raise Refused("its metadata members are too large in all")
            h, kept = hashlib.sha256(), []
            for chunk in content(f, e):
                h.update(chunk)
                if not doc:
                    kept.append(chunk)
            hashes[e.name] = (h.hexdigest(), e.size)
            if not doc:
                small[e.name] = b"".join(kept)

    def member(name):
        if name not in small:
            raise Refused(f"{name}: missing")
        return small[name]

    facts = []
    # The member list: exactly the files SHA256SUMS lists, each intact, sealed by a trusted key.
    try:
        sums_text = member("SHA256SUMS").decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("SHA256SUMS: not text")
    listed = {}
    if sums_text and not sums_text.endswith("\n"):
        raise Refused("SHA256SUMS: the last line has no newline")
    for line in sums_text.splitlines():
        h, sep, name = line.partition("  ")
        if not sep or not HEX64.match(h) or not safe_name(name) or name in listed:
            raise Refused(f"SHA256SUMS: malformed or repeated line {line!r}")
        listed[name] = h
    if set(hashes) != set(listed) | {"SHA256SUMS", "SHA256SUMS.sig"}:
        extra = sorted(set(hashes) - set(listed) - {"SHA256SUMS", "SHA256SUMS.sig"})
        missing = sorted((set(listed) | {"SHA256SUMS.sig"}) - set(hashes))
        raise Refused(f"the files are not those SHA256SUMS lists (extra: {extra}, missing: {missing})")
    for name, h in listed.items():
        if hashes[name][0] != h:
            raise Refused(f"{name}: altered (its SHA-256 is not the one SHA256SUMS lists)")
    facts.append(f"ok  SHA256SUMS lists exactly the {len(listed)} files, intact")

    index = parse_json(member("exhibit-bundle.json"), "exhibit-bundle.json")
    fmt = index.get("format") if isinstance(index, dict) else None
    if fmt not in FORMATS:
        raise Refused(f"exhibit-bundle.json: format {fmt!r} is not one of {FORMATS}")
    v1, v3 = fmt == "exhibit-bundle/1", fmt == "exhibit-bundle/3"

    # Every file is one the format defines.
    fixed = {"SHA256SUMS", "SHA256SUMS.sig", "exhibit-bundle.json", "CITATION.txt",
             "VERIFY.txt", "checkpoint.txt"} | ({"verify.py"} if v1 else set())
    records, key_files, key_records, carried_parts = {}, set(), {}, {}
    for name in hashes:
        parts = name.split("/")
        if name in fixed or (name == "keylog.txt" and v3):
            continue
        if (len(parts) == 3 and parts[0] == "keylog" and RECORD_ID.match(parts[1]) and v3
                and parts[2] in ("manifest.json", "manifest.sig", "statement.json")):
            key_records.setdefault(parts[1], set()).add(parts[2])
            continue
        if len(parts) == 2 and parts[0] == "keys" and re.fullmatch(
                r"[0-9a-f]{16}\.(pem|ed25519)" if v1 else r"[0-9a-f]{16}\.pem", parts[1]):
            key_files.add(name)
            continue
        if len(parts) == 3 and parts[0] == "records" and RECORD_ID.match(parts[1]):
            records.setdefault(parts[1], set()).add(parts[2])
            continue
        if (len(parts) == 4 and parts[0] == "records" and RECORD_ID.match(parts[1]) and v3
                and parts[2] == "parts" and HEX64.match(parts[3])):
            carried_parts.setdefault(parts[1], set()).add(parts[3])
            continue
        raise Refused(f"{name}: not a file an {fmt} bundle has")
    missing = sorted(fixed - set(hashes))
    if missing:
        raise Refused(f"missing: {missing}")
    orphans = sorted(set(carried_parts) - set(records))
    if orphans:
        raise Refused(f"records/{orphans[0]}/parts/: parts of a record the bundle does not hold")
    if not records:
        raise Refused("the bundle holds no record")

    origin, tree_size, root, extensions, cp_body, cp_lines = checkpoint_text(
        member("checkpoint.txt").decode("utf-8", errors="strict"))
    if not v3:   # before version 3, bundles carried no key records: your keys alone count
        if any(x.startswith("exhibit-key-events ") for x in extensions):
            # Its log has key records, which a bundle of this version cannot carry: a version-3
            # bundle with its key records taken out (a downgrade), refused as exhibit does.
            raise Refused(f"checkpoint.txt: its log has key records, which an {fmt} bundle cannot "
                          "carry (a version-3 bundle with its key records removed?)")
        book, kfacts, ksigners = Book(trusted), [], []
    else:
        book, kfacts, ksigners = follow_key_records(
            trusted, small.get("keylog.txt"), key_records, member, hashes, tree_size, extensions)
    facts += kfacts
    counting = book.checkpoint_keys(tree_size)
    cp_signers = checkpoint_signers(origin, cp_body, cp_lines, counting)
    facts.append(f"ok  checkpoint of {tree_size} records of log {origin}, signed by key "
                 f"{', '.join(cp_signers)}")
    # The seal: by a key whose checkpoint of this size counts.
    seal = member("SHA256SUMS.sig")
    sealers = [i for i, k in counting.items() if verifies(k, seal, member("SHA256SUMS"))]
    if not sealers:
        raise Refused("SHA256SUMS.sig: not a signature by a key you trust (or one they added)")
    facts.append(f"ok  SHA256SUMS sealed by key {sealers[0]}")

    # The carried keys: each what its name says. Never trusted; they only have to be the keys
    # that signed here (checked below).
    carried = set()
    for name in sorted(key_files):
        kid = name[5:21]
        if name.endswith(".pem"):
            pem = member(name)
            m = re.fullmatch(rb"-----BEGIN PUBLIC KEY-----\n([A-Za-z0-9+/=]{60})\n"
                             rb"-----END PUBLIC KEY-----\n", pem)
            der = base64.b64decode(m.group(1)) if m else b""
            if len(der) != 44 or der[:12] != SPKI_PREFIX or sha256(der[12:])[:8].hex() != kid:
                raise Refused(f"{name}: not the canonical PEM of key {kid}")
            if v1 and member(f"keys/{kid}.ed25519") != der[12:]:
                raise Refused(f"keys/{kid}.ed25519: not the raw bytes of key {kid}")
            carried.add(kid)
        elif f"keys/{kid}.pem" not in key_files:
            raise Refused(f"{name}: has no keys/{kid}.pem")

    rebuilt, used = [], set(sealers[:1]) | set(cp_signers) | set(ksigners)
    for rid in sorted(records):
        files = records[rid]
        docs = sorted(files - {"manifest.json", "manifest.sig", "proof.json"})
        if not {"manifest.json", "manifest.sig", "proof.json"} <= files or len(docs) != 1:
            raise Refused(f"records/{rid}/: not a manifest, signature, proof and one document")
        d = f"records/{rid}/"
        mbytes = member(d + "manifest.json")
        m = parse_json(mbytes, d + "manifest.json")
        if not isinstance(m, dict) or m.get("format") not in MANIFESTS:
            raise Refused(f"{d}manifest.json: not an exhibit manifest")
        signer = m.get("signer")
        used.add(signer)
        if signer not in book.keys:
            raise Refused(f"{rid}: signed by key {signer!r}, which you do not trust "
                          "(nor does a key record of yours add it)")
        if not verifies(book.keys[signer], member(d + "manifest.sig"), mbytes):
            raise Refused(f"{rid}: the manifest's signature does not verify")
        why = book.allows(signer, m["log_index"], m["signed_at"])
        if why:
            raise Refused(f"{rid}: its signature does not count: {why}")
        # Signed by a trusted key from here on; its fields are as exhibit writes them.
        doc = m["document"]
        if m["record_id"] != rid:
            raise Refused(f"{rid}: its manifest names record {m['record_id']!r}")
        if hashes[d + docs[0]] != (doc["sha256"], doc["size"]):
            raise Refused(f"{rid}: {docs[0]} is not the document its manifest cites")
        # Its parts (version 3): exactly those the manifest cites, each intact.
        cited = parts_of(m)
        have = carried_parts.get(rid, set())
        if v3 and have != set(cited):
            raise Refused(f"{rid}: parts/ does not hold exactly the parts its manifest cites "
                          f"(missing: {sorted(set(cited) - have)}, extra: {sorted(have - set(cited))})")
        for h in have:
            if hashes[f"{d}parts/{h}"] != (h, cited[h]):
                raise Refused(f"{rid}: parts/{h} is not the part its manifest cites")
        leaf = sha256(b"\x00" + mbytes)
        p = parse_json(member(d + "proof.json"), d + "proof.json")
        expect_keys(p, ("record_id", "leaf_index", "tree_size", "leaf_hash", "audit_path",
                        "root_hash"), d + "proof.json")
        if not all(same(a, b) for a, b in zip(
                (p["record_id"], p["leaf_index"], p["tree_size"], p["leaf_hash"], p["root_hash"]),
                (rid, m["log_index"], tree_size, leaf.hex(), root.hex()))):
            raise Refused(f"{rid}: proof.json disagrees with the manifest or the checkpoint")
        path = p["audit_path"]
        if not isinstance(path, list) or not all(isinstance(h, str) and HEX64.match(h)
                                                 for h in path):
            raise Refused(f"{rid}: malformed audit path")
        if not inclusion(m["log_index"], tree_size, leaf, [bytes.fromhex(h) for h in path], root):
            raise Refused(f"{rid}: the inclusion proof does not lead to the signed root")
        if (json.dumps(p, indent=2) + "\n").encode() != member(d + "proof.json"):
            raise Refused(f"{rid}: proof.json is not in its one canonical form")
        facts.append(f"ok  {rid} signed by key {signer}: {m['requested_url']} captured "
                     f"{m['captured_at']}, SHA-256 {doc['sha256']}, leaf {m['log_index']} of "
                     f"{tree_size}")
        rebuilt.append((m["log_index"], {
            "record_id": rid, "sha256": doc["sha256"], "size": doc["size"],
            "url": m["requested_url"], "captured_at": m["captured_at"],
            "document": d + docs[0], "manifest": d + "manifest.json",
            "signature": d + "manifest.sig", "proof": d + "proof.json"}))
    rebuilt = [r for _, r in sorted(rebuilt, key=lambda x: x[0])]
    if carried != used:
        raise Refused(f"keys/ holds {sorted(carried)}, not the keys that signed here {sorted(used)}")

    # The index: every value is what the signed data says.
    top = ["format", "origin", "tree_size", "root_hash", "checkpoint"]
    expect_keys(index, top + (["keys", "records"] if v1 else ["records"]), "exhibit-bundle.json")
    want = {"format": fmt, "origin": origin, "tree_size": tree_size, "root_hash": root.hex(),
            "checkpoint": "checkpoint.txt"}
    for k in top:
        if not same(index[k], want[k]):
            raise Refused(f"exhibit-bundle.json: {k} {index[k]!r} is not {want[k]!r}, "
                          "what the signed checkpoint says")
    said = index["records"]
    if not isinstance(said, list):
        raise Refused("exhibit-bundle.json: records is not a list")
    by_id = {}
    for r in said:
        expect_keys(r, list(rebuilt[0]), "exhibit-bundle.json record")
        if not isinstance(r["record_id"], str):
            raise Refused("exhibit-bundle.json: a record_id is not a string")
        by_id[r["record_id"]] = r
    if len(by_id) != len(said) or set(by_id) != set(records):
        raise Refused("exhibit-bundle.json: does not list exactly the records the bundle holds")
    for r in rebuilt:
        for k, v in r.items():
            if not same(by_id[r["record_id"]][k], v):
                raise Refused(f"exhibit-bundle.json: record {r['record_id']}: {k} "
                              f"{by_id[r['record_id']][k]!r} is not {v!r}, what the signed "
                              "manifest says")
    if v1:
        ks = index["keys"]
        ids = sorted(n[5:21] for n in key_files if n.endswith(".pem"))
        if not isinstance(ks, list) or [k.get("id") if isinstance(k, dict) else None
                                        for k in ks] != ids:
            raise Refused("exhibit-bundle.json: its keys are not the keys the bundle carries")
        for k in ks:
            expect_keys(k, ("id", "pem", "raw"), "exhibit-bundle.json key")
            if (k["pem"], k["raw"]) != (f"keys/{k['id']}.pem", f"keys/{k['id']}.ed25519"):
                raise Refused("exhibit-bundle.json: a key's member names are not its own")
    else:
        canonical = dict(want, records=rebuilt)
        text = json.dumps(canonical, indent=2, ensure_ascii=False) + "\n"
        if text.encode("utf-8") != member("exhibit-bundle.json"):
            raise Refused("exhibit-bundle.json: not in its one canonical form (section 13.3)")
    want = {"exhibit-bundle/3": VERIFY_TXT_SHA256, "exhibit-bundle/2": VERIFY_TXT_V2_SHA256}
    if not v1 and hashlib.sha256(member("VERIFY.txt")).hexdigest() != want[fmt]:
        raise Refused(f"VERIFY.txt: not the procedure of {fmt} (FORMAT.md 13.11, 13.12)")
    facts.append("ok  exhibit-bundle.json and every proof.json agree with the signed data")
    return facts, len(records), origin


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip().split("\n\n")[1])
        return 2
    try:
        trusted = load_trusted(argv[2:])
        facts, n, origin = verify(argv[1], trusted)
    except UsageError as e:
        print(f"error: {e}")
        return 2
    except Refused as e:
        print(f"FAILED: {argv[1]}: {e}")
        return 1
    except Exception as e:  # whatever else a malformed bundle causes: a failure, not a crash
        print(f"FAILED: {argv[1]}: malformed bundle ({type(e).__name__}: {e})")
        return 1
    for line in facts:
        print(line)
    print(f"VERIFIED: {argv[1]}: {n} record(s) of log {origin}, as keys you trust signed them")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
