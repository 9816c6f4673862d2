//! The log as C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): the tree's hashes cut into
//! immutable tiles of 256, so any static file server can publish the log and any tlog client
//! (Go's `golang.org/x/mod/sumdb/tlog`, Sunlight's and Tessera's tools) can prove inclusion and
//! consistency against a checkpoint without exhibit.
//!
//! A tile at level `L`, index `N`, holds the hashes of the perfect subtrees of height `8L` over
//! leaves `[(N * 256 + i) << 8L, (N * 256 + i + 1) << 8L)` for `i < width`: level 0 holds leaf
//! hashes. Every such hash is a stored hash (`log/hashes`), so a tile is 256 reads, no
//! computation. Pure: the caller reads the hashes.

use super::merkle::{stored_hash_index, Hash, TreeBuilder};

/// Hashes per full tile (tile height 8).
pub const WIDTH: u64 = 256;
/// Levels are `0..MAX_LEVEL`: 8 levels of 8 cover every tree of up to 2^64 leaves.
const MAX_LEVEL: u8 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub level: u8,
    pub index: u64,
    /// 1..=256; below 256 the tile is partial (`.p/<width>`).
    pub width: u16,
}

impl Tile {
    /// `tile/<L>/<N>[.p/<W>]`, with N in zero-padded groups of three digits, all but the last
    /// prefixed with `x` (`1234067` is `x001/x234/067`).
    pub fn path(&self) -> String {
        let mut p = format!("tile/{}/{}", self.level, index_path(self.index));
        if u64::from(self.width) < WIDTH {
            p.push_str(&format!(".p/{}", self.width));
        }
        p
    }

    /// The one spelling `path` writes; anything else (leading zeros beyond the groups, an
    /// `x` on the last group, width 0 or 256 as a partial tile, entries tiles) is `None`.
    pub fn parse(path: &str) -> Option<Tile> {
        let rest = path.strip_prefix("tile/")?;
        let (level, rest) = rest.split_once('/')?;
        if level.len() != 1 || !level.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let level: u8 = level.parse().ok()?;
        if level >= MAX_LEVEL {
            return None;
        }
        let (index_part, width) = match rest.split_once(".p/") {
            Some((i, w)) => {
                if w.is_empty() || w.starts_with('0') || !w.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let w: u16 = w.parse().ok()?;
                if w == 0 || u64::from(w) >= WIDTH {
                    return None;
                }
                (i, w)
            }
            None => (rest, WIDTH as u16),
        };
        let index = parse_index(index_part)?;
        let tile = Tile {
            level,
            index,
            width,
        };
        (tile.path() == path).then_some(tile)
    }

    /// Positions in `log/hashes` of this tile's hashes, in tile order (increasing).
    pub fn stored_indexes(&self) -> Vec<u64> {
        let height = 8 * u32::from(self.level);
        (0..u64::from(self.width))
            .map(|i| stored_hash_index(height, self.index * WIDTH + i))
            .collect()
    }

    /// Whether a tree of `size` leaves holds every hash of this tile.
    pub fn within(&self, size: u64) -> bool {
        let nodes = nodes_at(self.level, size);
        self.index
            .checked_mul(WIDTH)
            .and_then(|first| first.checked_add(u64::from(self.width)))
            .is_some_and(|end| end <= nodes)
    }
}

/// Complete subtrees of height `8 * level` in a tree of `size` leaves.
fn nodes_at(level: u8, size: u64) -> u64 {
    size.checked_shr(8 * u32::from(level)).unwrap_or(0)
}

/// Every tile a client may need for a tree of `size` leaves: the full tiles of each level and
/// the rightmost partial one where the level does not end on a tile boundary.
pub fn tiles_for(size: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    for level in 0..MAX_LEVEL {
        let nodes = nodes_at(level, size);
        if nodes == 0 {
            break;
        }
        for index in 0..nodes / WIDTH {
            out.push(Tile {
                level,
                index,
                width: WIDTH as u16,
            });
        }
        if !nodes.is_multiple_of(WIDTH) {
            out.push(Tile {
                level,
                index: nodes / WIDTH,
                width: (nodes % WIDTH) as u16,
            });
        }
    }
    out
}

/// Whether the first `size` leaves' stored hashes, read in order from `stored`, are consistent
/// with each other and with `root`: every subtree hash is recomputed from the leaf hashes, so a
/// tile built from them proves what the checkpoint signs. O(log n) memory; `Err` names the first
/// stored hash that disagrees.
pub fn check_stored(mut stored: impl std::io::Read, size: u64, root: &Hash) -> Result<(), String> {
    let mut builder = TreeBuilder::new();
    let mut k = 0u64;
    let mut buf = [0u8; 32];
    for i in 0..size {
        stored
            .read_exact(&mut buf)
            .map_err(|e| format!("stored hash {k}: {e}"))?;
        for h in builder.push(buf) {
            if k != stored_hash_index(0, i) {
                stored
                    .read_exact(&mut buf)
                    .map_err(|e| format!("stored hash {k}: {e}"))?;
                if buf != h {
                    return Err(format!(
                        "stored hash {k} (completed by leaf {i}) is not the hash of the hashes below it: one of them was altered"
                    ));
                }
            }
            k += 1;
        }
    }
    if builder.root() != *root {
        return Err("the leaf hashes do not give the signed root hash".into());
    }
    Ok(())
}

fn index_path(n: u64) -> String {
    let digits = n.to_string();
    let groups = digits.len().div_ceil(3);
    let padded = format!("{n:0width$}", width = groups * 3);
    let mut out = String::new();
    for g in 0..groups {
        if g > 0 {
            out.push('/');
        }
        if g + 1 < groups {
            out.push('x');
        }
        out.push_str(&padded[g * 3..g * 3 + 3]);
    }
    out
}

fn parse_index(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split('/').collect();
    let mut n: u64 = 0;
    for (i, part) in parts.iter().enumerate() {
        let digits = if i + 1 < parts.len() {
            part.strip_prefix('x')?
        } else {
            part
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n = n
            .checked_mul(1000)?
            .checked_add(digits.parse::<u64>().ok()?)?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::merkle::{leaf_hash, root_from_leaves, HashReader};
    use proptest::prelude::*;

    #[test]
    fn paths_follow_the_spec_examples() {
        let t = |level, index, width| Tile {
            level,
            index,
            width,
        };
        assert_eq!(t(0, 1234067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(t(1, 0, 3).path(), "tile/1/000.p/3");
        assert_eq!(t(0, 999, 256).path(), "tile/0/999");
        assert_eq!(t(0, 1000, 255).path(), "tile/0/x001/000.p/255");
        for bad in [
            "tile/0/1",
            "tile/0/0001",
            "tile/0/x000",
            "tile/0/001/000",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/07",
            "tile/00/000",
            "tile/8/000",
            "tile/entries/000",
            "tile/0/000/",
            "/tile/0/000",
            "tile/0/x1000/000",
        ] {
            assert_eq!(Tile::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn tiles_cover_a_tree_exactly() {
        assert!(tiles_for(0).is_empty());
        assert_eq!(tiles_for(1).len(), 1);
        let p = |s: u64| tiles_for(s).iter().map(Tile::path).collect::<Vec<_>>();
        assert_eq!(p(255), ["tile/0/000.p/255"]);
        assert_eq!(p(256), ["tile/0/000", "tile/1/000.p/1"]);
        assert_eq!(p(257), ["tile/0/000", "tile/0/001.p/1", "tile/1/000.p/1"]);
        // 256 full leaf tiles, one full tile of their 256 roots, and the root above them.
        assert_eq!(p(65536).len(), 256 + 1 + 1);
    }

    proptest! {
        #[test]
        fn path_round_trips(level in 0u8..8, index in any::<u64>(), width in 1u16..=256) {
            let t = Tile { level, index, width };
            prop_assert_eq!(Tile::parse(&t.path()), Some(t));
        }

        #[test]
        fn parse_never_panics(s in "tile/[0-9x./p]{0,40}") {
            if let Some(t) = Tile::parse(&s) {
                prop_assert_eq!(t.path(), s);
            }
        }

        /// Each tile hash is the tree hash of the leaf range it names, computed from the leaves.
        #[test]
        fn tile_hashes_are_the_subtrees_they_name(size in 1u64..1400) {
            let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_le_bytes())).collect();
            let mut tree = TreeBuilder::new();
            let mut stored = Vec::new();
            for l in &leaves {
                stored.extend(tree.push(*l));
            }
            for tile in tiles_for(size) {
                prop_assert!(tile.within(size));
                let hashes = stored.as_slice().read_hashes(&tile.stored_indexes()).unwrap();
                for (i, h) in hashes.iter().enumerate() {
                    let span = 1u64 << (8 * u32::from(tile.level));
                    let start = (tile.index * WIDTH + i as u64) * span;
                    let want = root_from_leaves(&leaves[start as usize..(start + span) as usize]);
                    prop_assert_eq!(*h, want);
                }
            }
            let bytes: Vec<u8> = stored.concat();
            let root = root_from_leaves(&leaves);
            prop_assert_eq!(check_stored(&bytes[..], size, &root), Ok(()));
            let mut bad = bytes.clone();
            let at = (size as usize * 7919) % bad.len();
            bad[at] ^= 1;
            prop_assert!(check_stored(&bad[..], size, &root).is_err());
            let past = tiles_for(size + 1).into_iter().filter(|t| !t.within(size)).count();
            prop_assert!(past >= 1);
        }
    }
}
