//! Human-typable record IDs such as `EX-7K2M-9QDR-T4VW`.
//!
//! Twelve Crockford base32 symbols: eleven carry 55 random bits, the twelfth
//! is a Luhn mod 32 check symbol. The check lets the CLI tell a mistyped ID
//! from an unknown one instead of answering "not found".

use std::fmt;
use std::str::FromStr;

/// Crockford base32: no I, L, O (read as 1, 1, 0) and no U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const DATA_SYMBOLS: usize = 11;
const SYMBOLS: usize = DATA_SYMBOLS + 1;
const BITS_MASK: u64 = (1 << (5 * DATA_SYMBOLS)) - 1;
/// Values of 'E' and 'X' in the alphabet, for spotting the optional prefix
/// after symbols have been decoded.
const PREFIX_VALUES: [u8; 2] = [14, 29];

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct RecordId(u64);

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum RecordIdError {
    #[error("a record ID has 12 symbols after the EX- prefix, but {found} were found")]
    Length { found: usize },
    #[error("{symbol:?} cannot appear in a record ID (only digits and the letters A-Z except U)")]
    BadSymbol { symbol: char },
    #[error("the check character does not match: the ID was probably mistyped")]
    CheckFailed,
}

impl RecordId {
    /// Keeps the low 55 bits; the rest cannot be represented.
    pub fn from_bits(bits: u64) -> Self {
        RecordId(bits & BITS_MASK)
    }

    /// A fresh ID from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide randomness. Falling back to a
    /// predictable ID would be worse than stopping.
    pub fn random() -> Self {
        let mut buf = [0u8; 8];
        getrandom::getrandom(&mut buf)
            .expect("the operating system's random number generator failed");
        Self::from_bits(u64::from_le_bytes(buf))
    }

    pub fn bits(&self) -> u64 {
        self.0
    }

    /// The first two data symbols, e.g. "7K": 1024 directories keep any one
    /// of them small.
    pub fn shard(&self) -> String {
        let s = self.symbols();
        [s[0], s[1]]
            .iter()
            .map(|&v| char::from(ALPHABET[usize::from(v)]))
            .collect()
    }

    fn symbols(&self) -> [u8; SYMBOLS] {
        let mut out = [0u8; SYMBOLS];
        for (i, slot) in out[..DATA_SYMBOLS].iter_mut().enumerate() {
            // Most significant first, so IDs sort like their bits.
            let shift = 5 * (DATA_SYMBOLS - 1 - i);
            *slot = ((self.0 >> shift) & 31) as u8;
        }
        out[DATA_SYMBOLS] = check_symbol(&out[..DATA_SYMBOLS]);
        out
    }
}

/// Luhn mod N with N = 32. Doubling (with the digit sum folded back in) is a
/// permutation of 0..32, so every single substitution changes the sum; the
/// alternating weights catch adjacent transpositions except 0<->Z.
fn check_symbol(data: &[u8]) -> u8 {
    let mut sum = 0u32;
    // The check symbol will sit to the right with weight 1, so the symbol
    // next to it gets weight 2.
    for (i, &v) in data.iter().rev().enumerate() {
        let weighted = if i % 2 == 0 {
            2 * u32::from(v)
        } else {
            u32::from(v)
        };
        sum += weighted / 32 + weighted % 32;
    }
    ((32 - sum % 32) % 32) as u8
}

fn symbol_value(c: char) -> Option<u8> {
    let upper = c.to_ascii_uppercase();
    match upper {
        'O' => Some(0),
        'I' | 'L' => Some(1),
        _ if upper.is_ascii_alphanumeric() => ALPHABET
            .iter()
            .position(|&a| char::from(a) == upper)
            .map(|p| p as u8),
        _ => None,
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // On the stack: IDs are spelled for every footer line and lookup an audit makes.
        let mut out = [0u8; 2 + SYMBOLS + SYMBOLS / 4];
        out[..2].copy_from_slice(b"EX");
        let mut at = 2;
        for (i, &v) in self.symbols().iter().enumerate() {
            if i % 4 == 0 {
                out[at] = b'-';
                at += 1;
            }
            out[at] = ALPHABET[usize::from(v)];
            at += 1;
        }
        f.write_str(std::str::from_utf8(&out[..at]).expect("the alphabet is ASCII"))
    }
}

impl FromStr for RecordId {
    type Err = RecordIdError;

    /// Case-insensitive; hyphens (or any dash) and spaces (of any width)
    /// anywhere are ignored; the "EX" prefix is optional; I and L read as
    /// 1, O as 0; quotes, brackets and a trailing period around the ID (as
    /// a word processor or a sentence leaves them) are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Room for the prefix and twelve symbols; anything longer only needs
        // counting, which keeps huge inputs from allocating.
        let mut buf = [0u8; 2 + SYMBOLS];
        let mut count = 0usize;
        for c in trim_pasted(s).chars() {
            if is_separator(c) {
                continue;
            }
            let v = symbol_value(c).ok_or(RecordIdError::BadSymbol { symbol: c })?;
            if let Some(slot) = buf.get_mut(count) {
                *slot = v;
            }
            count += 1;
        }
        // E and X are also data symbols, so the length decides whether a
        // leading "EX" is the prefix.
        let data = if count == SYMBOLS {
            &buf[..SYMBOLS]
        } else if count >= 2 && buf[..2] == PREFIX_VALUES {
            if count - 2 != SYMBOLS {
                return Err(RecordIdError::Length { found: count - 2 });
            }
            &buf[2..]
        } else {
            return Err(RecordIdError::Length { found: count });
        };
        if check_symbol(&data[..DATA_SYMBOLS]) != data[DATA_SYMBOLS] {
            return Err(RecordIdError::CheckFailed);
        }
        let bits = data[..DATA_SYMBOLS]
            .iter()
            .fold(0u64, |acc, &v| (acc << 5) | u64::from(v));
        Ok(RecordId(bits))
    }
}

/// Whether `s` looks like an attempt at a record ID rather than a hash
/// prefix: it starts with "EX-" or "EX " (any case), or it is three groups
/// of four letters/digits joined by hyphens. Hex hash prefixes never contain
/// 'X' or hyphens, so neither test fires on them.
pub fn looks_like_record_id(s: &str) -> bool {
    // Any dash or space counts as the hyphen it stands for.
    let c: Vec<char> = trim_pasted(s)
        .chars()
        .take(15)
        .map(|c| if is_separator(c) { '-' } else { c })
        .collect();
    if c.len() >= 3
        && c[0].eq_ignore_ascii_case(&'E')
        && c[1].eq_ignore_ascii_case(&'X')
        && c[2] == '-'
    {
        return true;
    }
    c.len() == 14
        && c.iter().enumerate().all(|(i, &c)| {
            if i == 4 || i == 9 {
                c == '-'
            } else {
                c.is_ascii_alphanumeric()
            }
        })
}

/// Characters a record ID may carry between its symbols: the hyphen, every dash a word
/// processor substitutes for it (en and em dash, non-breaking hyphen, minus sign, ...), spaces
/// of any width (a no-break space included) and invisible characters (soft hyphen, zero-width
/// space, BOM). None of them is a symbol, so skipping them can never turn one ID into another.
pub fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '\u{00AD}'
                | '\u{2010}'..='\u{2015}'
                | '\u{2212}'
                | '\u{FE58}'
                | '\u{FE63}'
                | '\u{FF0D}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'
                | '\u{FEFF}'
        )
}

/// Quotes and brackets a pasted value may be wrapped in: straight and typographic quotes,
/// guillemets, backticks, parentheses, square and angle brackets.
fn is_wrapper(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '\u{2018}'
            ..='\u{201F}'
                | '\u{00AB}'
                | '\u{00BB}'
                | '\u{2039}'
                | '\u{203A}'
                | '`'
                | '('
                | ')'
                | '['
                | ']'
                | '<'
                | '>'
    )
}

/// A value as it may be pasted from a filing or a word processor, without what surrounds it:
/// spaces (any width), quotes and brackets, and sentence punctuation after it (a trailing
/// period, comma, semicolon or colon, and the ellipsis of a shortened hash). Only the ends are
/// touched; what remains is the value as typed.
pub fn trim_pasted(s: &str) -> &str {
    let mut s = s;
    loop {
        let t = s
            .trim_matches(|c: char| is_separator(c) && c != '-')
            .trim_start_matches(is_wrapper)
            .trim_end_matches(|c: char| is_wrapper(c) || matches!(c, '.' | ',' | ';' | ':' | '…'));
        if t.len() == s.len() {
            return t;
        }
        s = t;
    }
}

/// Record IDs that follow from log positions (archive/2, docs/SCALE.md): the ID of the record at
/// log index `i` is a fixed permutation of `i`, keyed by the archive's origin, so a reader finds
/// a record from its ID by arithmetic, with no index to keep, on a disk or on object storage.
/// The IDs still look random (and differ between archives), which keeps them from being
/// mistaken for counts and keeps two archives' citations apart.
///
/// The permutation of 55-bit values, all arithmetic modulo 2^55:
/// `a = (i + K) * M1`, `b = a XOR (a >> 28)`, `id = b * M2`, where K is the first 8 bytes
/// (big endian) of SHA-256("exhibit-record-id\n" || origin) modulo 2^55, and M1, M2 are the odd
/// constants below. Each step is invertible (odd multipliers modulo a power of two; a shift of
/// at least half the width undoes itself), so every index has exactly one ID and back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    key: u64,
}

const M1: u64 = 0x5851_F42D_4C95_7F2D & BITS_MASK;
const M2: u64 = 0x2545_F491_4F6C_DD1D & BITS_MASK;
const SHIFT: u32 = 28;

/// The inverse of an odd number modulo 2^64 (and so modulo 2^55), by Newton's iteration: each
/// step doubles the number of correct low bits, and x = m is right in the low 3.
const fn inverse(m: u64) -> u64 {
    let mut x = m;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(x)));
        i += 1;
    }
    x & BITS_MASK
}
const M1_INV: u64 = inverse(M1);
const M2_INV: u64 = inverse(M2);

impl IdMap {
    pub fn for_origin(origin: &str) -> IdMap {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"exhibit-record-id\n");
        h.update(origin.as_bytes());
        let d: [u8; 32] = h.finalize().into();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        IdMap {
            key: u64::from_be_bytes(first) & BITS_MASK,
        }
    }

    /// The ID of the record at log index `index` (below 2^55).
    pub fn id(&self, index: u64) -> RecordId {
        let a = index.wrapping_add(self.key).wrapping_mul(M1) & BITS_MASK;
        let b = a ^ (a >> SHIFT);
        RecordId(b.wrapping_mul(M2) & BITS_MASK)
    }

    /// The log index whose ID this is. Every ID has one; whether that index holds this record
    /// is for the log to say (an ID from another archive, or of a record made before archive/2,
    /// maps to some index too).
    pub fn index(&self, id: RecordId) -> u64 {
        let b = id.0.wrapping_mul(M2_INV) & BITS_MASK;
        let a = b ^ (b >> SHIFT);
        a.wrapping_mul(M1_INV).wrapping_sub(self.key) & BITS_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canonical_symbols(id: RecordId) -> Vec<u8> {
        id.to_string()
            .bytes()
            .filter(|&b| b != b'-')
            .skip(2)
            .collect()
    }

    fn from_symbols(symbols: &[u8]) -> Result<RecordId, RecordIdError> {
        std::str::from_utf8(symbols).unwrap().parse()
    }

    #[test]
    fn display_shape() {
        let id = RecordId::from_bits(0);
        assert_eq!(id.to_string(), "EX-0000-0000-0000");
        let id = RecordId::from_bits(u64::MAX);
        assert_eq!(id.bits(), (1 << 55) - 1);
        let s = id.to_string();
        assert_eq!(s.len(), 17);
        assert!(s.starts_with("EX-ZZZZ-ZZZZ-ZZZ"));
        assert_eq!(s.parse::<RecordId>(), Ok(id));
        assert_eq!(id.shard(), "ZZ");
        assert_eq!(RecordId::from_bits(1 << 50).shard(), "10");
        assert_eq!(RecordId::from_bits(1 << 45).shard(), "01");
    }

    #[test]
    fn random_ids_differ_and_round_trip() {
        let a = RecordId::random();
        let b = RecordId::random();
        assert_ne!(a, b);
        assert!(a.bits() < 1 << 55);
        assert_eq!(a.to_string().parse(), Ok(a));
    }

    #[test]
    fn every_single_substitution_is_rejected() {
        for _ in 0..5 {
            let id = RecordId::random();
            let symbols = canonical_symbols(id);
            for pos in 0..SYMBOLS {
                for &alt in ALPHABET.iter().filter(|&&a| a != symbols[pos]) {
                    let mut typo = symbols.clone();
                    typo[pos] = alt;
                    assert_eq!(
                        from_symbols(&typo),
                        Err(RecordIdError::CheckFailed),
                        "{id} with {} at {pos}",
                        char::from(alt)
                    );
                }
            }
        }
    }

    /// Measured: 10890 of 10912 adjacent transpositions of distinct symbols
    /// are caught (99.80%), the same at every one of the 11 adjacent
    /// positions including the check symbol's; the 22 misses are exactly the
    /// swaps of '0' and 'Z'.
    #[test]
    fn adjacent_transpositions_measured() {
        let mut tried = 0u32;
        let mut caught = 0u32;
        let mut seed = RecordId::random().bits();
        for pos in 0..SYMBOLS - 1 {
            for a in 0..32u8 {
                for b in (0..32u8).filter(|&b| b != a) {
                    // Adjust an unrelated data symbol until the pair (a, b)
                    // appears at (pos, pos + 1); this also reaches every
                    // check value when pos + 1 is the check position.
                    let found = (0..32u8).find_map(|free| {
                        let mut data = RecordId::from_bits(seed).symbols();
                        let free_pos = if pos < 2 { 10 } else { 0 };
                        data[free_pos] = free;
                        data[pos] = a;
                        if pos + 1 < DATA_SYMBOLS {
                            data[pos + 1] = b;
                        }
                        data[DATA_SYMBOLS] = check_symbol(&data[..DATA_SYMBOLS]);
                        (data[pos + 1] == b).then_some(data)
                    });
                    let data = found.expect("a free symbol reaches every check value");
                    let mut swapped: Vec<u8> =
                        data.iter().map(|&v| ALPHABET[usize::from(v)]).collect();
                    swapped.swap(pos, pos + 1);
                    tried += 1;
                    if from_symbols(&swapped).is_err() {
                        caught += 1;
                    } else {
                        let pair = [ALPHABET[usize::from(a)], ALPHABET[usize::from(b)]];
                        assert!(pair == *b"0Z" || pair == *b"Z0", "missed {pair:?}");
                    }
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                }
            }
        }
        assert_eq!(tried, 11 * 32 * 31);
        assert_eq!(caught, tried - 11 * 2);
    }

    #[test]
    fn lenient_forms_accepted() {
        // Contains 0 and 1 so the lookalikes have something to stand for.
        let id = "EX-0000-0000-0000".parse::<RecordId>().unwrap();
        assert_eq!(id.bits(), 0);
        let id = RecordId::from_bits(
            0b00001_00000_00001_00000_10101_11011_00000_00001_00000_00001_00000,
        );
        let canon = id.to_string();
        assert!(canon.contains('0') && canon.contains('1'), "{canon}");
        let variants = [
            canon.to_lowercase(),
            canon.replace('1', "I"),
            canon.replace('1', "l"),
            canon.replace('1', "i"),
            canon.replace('1', "L"),
            canon.replace('0', "O"),
            canon.replace('0', "o"),
            canon.replace('-', ""),
            canon.replace('-', " "),
            canon.trim_start_matches("EX-").to_owned(),
            canon.trim_start_matches("EX-").replace('-', ""),
            format!("  {}\n", canon.to_lowercase()),
            format!("ex{}", canon.trim_start_matches("EX")),
        ];
        for v in &variants {
            assert_eq!(v.parse::<RecordId>(), Ok(id), "{v:?}");
        }
    }

    #[test]
    fn prefix_detection_by_length() {
        // An ID whose data starts with "EX" parses with or without the prefix.
        let id = RecordId::from_bits((14 << 50) | (29 << 45) | 12345);
        let canon = id.to_string();
        assert!(canon.starts_with("EX-EX"), "{canon}");
        assert_eq!(canon.parse(), Ok(id));
        assert_eq!(canon[3..].parse(), Ok(id));
    }

    #[test]
    fn errors() {
        assert_eq!(
            "EX-7K2M-9QDR-T4V".parse::<RecordId>(),
            Err(RecordIdError::Length { found: 11 })
        );
        assert_eq!(
            "".parse::<RecordId>(),
            Err(RecordIdError::Length { found: 0 })
        );
        assert_eq!(
            "7K2M-9QDR-T4VBB".parse::<RecordId>(),
            Err(RecordIdError::Length { found: 13 })
        );
        assert_eq!(
            "EX-7K2M-9QDR-T4UB".parse::<RecordId>(),
            Err(RecordIdError::BadSymbol { symbol: 'U' })
        );
        assert_eq!(
            "ex-7k2m-9qdr-t4ub".parse::<RecordId>(),
            Err(RecordIdError::BadSymbol { symbol: 'u' })
        );
        assert_eq!(
            "EX_7K2M".parse::<RecordId>(),
            Err(RecordIdError::BadSymbol { symbol: '_' })
        );
        assert_eq!(
            "EX-7K2M-9QDR-T4VＢ".parse::<RecordId>(),
            Err(RecordIdError::BadSymbol { symbol: 'Ｂ' })
        );
        assert_eq!(
            RecordIdError::CheckFailed.to_string(),
            "the check character does not match: the ID was probably mistyped"
        );
    }

    #[test]
    fn looks_like() {
        let id = RecordId::random().to_string();
        assert!(looks_like_record_id(&id));
        assert!(looks_like_record_id(&id.to_lowercase()));
        assert!(looks_like_record_id(&id[3..]));
        assert!(looks_like_record_id("EX-"));
        assert!(looks_like_record_id("ex-12"));
        assert!(looks_like_record_id("Ex 7K2M"));
        assert!(looks_like_record_id("7K2M-9QDR-T4UB"));
        assert!(!looks_like_record_id("3f7a9c"));
        assert!(!looks_like_record_id("3f7a9c0d1e2f4a5b"));
        assert!(!looks_like_record_id("sha256:3f7a"));
        assert!(!looks_like_record_id(""));
        assert!(!looks_like_record_id("7K2M9QDRT4VB"));
        assert!(!looks_like_record_id("7K2M-9QDR-T4V"));
        assert!(!looks_like_record_id("exhibit"));
    }

    #[test]
    fn pasted_forms_accepted() {
        let id = RecordId::from_bits(8552699085482139);
        assert_eq!(id.to_string(), "EX-7K2M-9QDR-T4VW");
        for v in [
            "EX\u{2013}7K2M\u{2013}9QDR\u{2013}T4VW",  // en dashes
            "EX\u{2014}7K2M\u{2014}9QDR\u{2014}T4VW.", // em dashes, end of a sentence
            "\u{201C}EX-7K2M-9QDR-T4VW\u{201D}",       // curly quotes
            "\u{201C}EX-7K2M-9QDR-T4VW.\u{201D}",      // a period inside the quotes
            "\"EX-7K2M-9QDR-T4VW\",",
            "'ex-7k2m-9qdr-t4vw'",
            "EX\u{00A0}7K2M\u{00A0}9QDR\u{00A0}T4VW", // no-break spaces
            "EX\u{2011}7K2M\u{2011}9QDR\u{2011}T4VW", // non-breaking hyphens
            "EX\u{2212}7K2M\u{2212}9QDR\u{2212}T4VW", // minus signs
            "\u{00A0}(EX-7K2M-9QDR-T4VW);\u{00A0}",
            "EX-7K2M-9QDR-\u{00AD}T4VW", // a soft hyphen at a line break
            "\u{FEFF}EX-7K2M-9QDR-T4VW\u{200B}",
            "EX7K2M9QDRT4VW",
            "7K2M9QDRT4VW",
            "7k2m9qdrt4vw.",
        ] {
            assert_eq!(v.parse::<RecordId>(), Ok(id), "{v:?}");
            assert_eq!(
                crate::verify::parse_target(v).map_err(|e| e.to_string()),
                Ok(crate::verify::Target::Record(id)),
                "{v:?}"
            );
        }
        // A mistyped symbol is still caught in a pasted form.
        assert_eq!(
            "\u{201C}EX\u{2013}7K2M\u{2013}9QDR\u{2013}T4VX.\u{201D}".parse::<RecordId>(),
            Err(RecordIdError::CheckFailed)
        );
    }

    /// An ID in some pasted spelling: any case, optional prefix, any of the separators Word
    /// or a PDF leaves, quotes and sentence punctuation around it.
    fn pasted(id: RecordId, style: &[u8]) -> String {
        pasted_symbols(&canonical_symbols(id), style)
    }

    /// [`pasted`] for 12 symbols that need not be a valid ID.
    fn pasted_symbols(symbols: &[u8], style: &[u8]) -> String {
        const SEPS: [&str; 8] = [
            "-", "", " ", "\u{2013}", "\u{2014}", "\u{00A0}", "\u{2011}", "\u{2212}",
        ];
        const WRAPS: [(&str, &str); 6] = [
            ("", ""),
            ("\"", "\""),
            ("\u{201C}", "\u{201D}"),
            ("'", "'"),
            ("(", ")"),
            ("", "."),
        ];
        let pick = |i: usize| usize::from(style.get(i).copied().unwrap_or(0));
        let sep = SEPS[pick(0) % SEPS.len()];
        let (open, close) = WRAPS[pick(1) % WRAPS.len()];
        let groups: Vec<&str> = symbols
            .chunks(4)
            .map(|g| std::str::from_utf8(g).unwrap())
            .collect();
        let mut s = String::from(open);
        if pick(2) % 2 == 0 {
            s.push_str("EX");
            s.push_str(sep);
        }
        s.push_str(&groups.join(sep));
        s.push_str(close);
        if pick(3) % 3 == 0 {
            s = s.to_lowercase();
        }
        if pick(4) % 2 == 0 {
            s.push('.');
        }
        s
    }

    proptest! {
        /// Every pasted spelling of an ID is that ID, for the parser and for every command
        /// (which all read their input with verify::parse_target).
        #[test]
        fn every_pasted_spelling_is_the_same_id(bits in any::<u64>(), style in proptest::collection::vec(any::<u8>(), 5)) {
            let id = RecordId::from_bits(bits);
            let s = pasted(id, &style);
            prop_assert_eq!(s.parse::<RecordId>(), Ok(id), "{:?}", s);
            prop_assert_eq!(
                crate::verify::parse_target(&s).map_err(|e| e.to_string()),
                Ok(crate::verify::Target::Record(id)),
                "{:?}", s
            );
        }

        /// A valid ID is a record ID even when every symbol is a hex digit and there is no
        /// hyphen or prefix to say so: never a hash prefix.
        #[test]
        fn a_valid_all_hex_id_is_a_record_id(data in proptest::collection::vec(0u8..16, DATA_SYMBOLS)) {
            let bits = data.iter().fold(0u64, |acc, &v| (acc << 5) | u64::from(v));
            let id = RecordId::from_bits(bits);
            let compact: String = id.to_string().chars().filter(|c| c.is_ascii_alphanumeric()).skip(2).collect();
            let t = crate::verify::parse_target(&compact);
            prop_assert_eq!(t.map_err(|e| e.to_string()), Ok(crate::verify::Target::Record(id)));
        }

        /// One wrong symbol, in any pasted spelling, is rejected as mistyped: never another ID,
        /// and never read as a hash prefix (for an all-hex ID) either.
        #[test]
        fn a_single_typo_is_always_rejected(
            bits in any::<u64>(),
            style in proptest::collection::vec(any::<u8>(), 5),
            pos in 0..SYMBOLS,
            alt in 0..32usize,
        ) {
            let id = RecordId::from_bits(bits);
            let mut symbols = canonical_symbols(id);
            prop_assume!(ALPHABET[alt] != symbols[pos]);
            symbols[pos] = ALPHABET[alt];
            let typo = pasted_symbols(&symbols, &style);
            prop_assert_eq!(typo.parse::<RecordId>(), Err(RecordIdError::CheckFailed), "{:?}", typo);
            let t = crate::verify::parse_target(&typo);
            prop_assert!(t.is_err(), "{:?} -> {:?}", typo, t);
            prop_assert!(t.unwrap_err().to_string().contains("mistyped"));
        }

        /// Twelve hex digits are never a hash prefix: a valid ID, or rejected as a mistyped one.
        #[test]
        fn twelve_hex_digits_are_never_a_prefix(hex in "[0-9a-fA-F]{12}") {
            match crate::verify::parse_target(&hex) {
                Ok(crate::verify::Target::Record(id)) => prop_assert_eq!(hex.parse::<RecordId>(), Ok(id)),
                Ok(other) => prop_assert!(false, "{} read as {:?}", hex, other),
                Err(e) => prop_assert!(e.to_string().contains("mistyped") && e.hint.unwrap().contains("sha256:")),
            }
            let explicit = format!("sha256:{hex}");
            prop_assert_eq!(
                crate::verify::parse_target(&explicit).map_err(|e| e.to_string()),
                Ok(crate::verify::Target::Prefix(hex.to_ascii_lowercase()))
            );
        }

        #[test]
        fn display_from_str_round_trip(bits in any::<u64>()) {
            let id = RecordId::from_bits(bits);
            prop_assert_eq!(id.bits(), bits & ((1 << 55) - 1));
            let s = id.to_string();
            prop_assert!(looks_like_record_id(&s));
            prop_assert_eq!(s.parse::<RecordId>(), Ok(id));
            prop_assert_eq!(s.to_lowercase().parse::<RecordId>(), Ok(id));
            prop_assert_eq!(&s[3..5], id.shard());
        }

        #[test]
        fn ordering_follows_bits(a in any::<u64>(), b in any::<u64>()) {
            let (x, y) = (RecordId::from_bits(a), RecordId::from_bits(b));
            prop_assert_eq!(x.cmp(&y), x.bits().cmp(&y.bits()));
        }

        #[test]
        fn from_str_never_panics(s in any::<String>()) {
            let _ = s.parse::<RecordId>();
            let _ = looks_like_record_id(&s);
        }

        #[test]
        fn from_str_never_panics_idish(s in "[0-9A-Za-z\\- ]{0,30}") {
            if let Ok(id) = s.parse::<RecordId>() {
                // Whatever is accepted is a valid ID with the same symbols.
                let parsed_again = id.to_string().parse::<RecordId>();
                prop_assert_eq!(parsed_again, Ok(id));
            }
            let _ = looks_like_record_id(&s);
        }
    }

    #[test]
    fn position_ids_round_trip_and_differ_between_archives() {
        let a = IdMap::for_origin("archive.example/log");
        let b = IdMap::for_origin("other.example/log");
        for i in (0..2_000u64).chain([BITS_MASK - 1, BITS_MASK, 1 << 40]) {
            assert_eq!(a.index(a.id(i)), i);
            assert_ne!(a.id(i), b.id(i));
        }
        let ids: std::collections::HashSet<RecordId> = (0..10_000).map(|i| a.id(i)).collect();
        assert_eq!(ids.len(), 10_000);
        // Neighbours in the log do not share a shard directory or a visible prefix.
        let shards: std::collections::HashSet<String> = (0..64).map(|i| a.id(i).shard()).collect();
        assert!(shards.len() > 40, "{}", shards.len());
        assert_eq!(M1.wrapping_mul(M1_INV) & BITS_MASK, 1);
        assert_eq!(M2.wrapping_mul(M2_INV) & BITS_MASK, 1);
    }

    proptest::proptest! {
        #[test]
        fn every_id_maps_to_one_index_and_back(bits in 0u64..=BITS_MASK, origin in "[a-z./]{1,20}") {
            let m = IdMap::for_origin(&origin);
            let id = RecordId::from_bits(bits);
            proptest::prop_assert_eq!(m.id(m.index(id)), id);
        }
    }
}
