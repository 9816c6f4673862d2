//! RFC 6962 / RFC 9162 Merkle tree hashing over a flat, append-only sequence
//! of stored hashes.
//!
//! The storage layout follows Go's `golang.org/x/mod/sumdb/tlog` (itself
//! section 3.3 of Crosby and Wallach, "Efficient Data Structures for
//! Tamper-Evident Logging"): appending leaf `n` writes its leaf hash followed
//! by the hash of every perfect subtree that leaf completes. The sequence is
//! therefore append-only, every interior hash is written exactly once, and
//! any tree root or proof needs only O(log n) reads from it.
//!
//! Everything here is a pure function. Storage is reached only through
//! [`HashReader`], so the log writer, the auditor and offline verifiers share
//! one implementation, and the verifiers ([`check_inclusion`],
//! [`check_consistency`]) need no storage at all: they take untrusted input
//! and return an error rather than panic, whatever it is.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Size of a [`Hash`] in bytes.
pub const HASH_SIZE: usize = 32;

/// Largest tree that the functions reading stored hashes accept.
///
/// The stored sequence holds about two hashes per leaf, so this bound keeps
/// every stored index well inside `u64` (and it is far beyond any real log:
/// 2^62 leaves would need 2^68 bytes of hashes). The verifiers have no such
/// limit because they never compute a stored index.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// Why a proof could not be produced or did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ProofError {
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizeOrder { old_size: u64, new_size: u64 },
    #[error("tree size {size} is larger than the supported maximum of 2^62 leaves")]
    TreeTooLarge { size: u64 },
    #[error("proof has {got} hashes, but this tree shape needs {expected}")]
    ProofLength { expected: usize, got: usize },
    #[error("malformed proof: {0}")]
    BadProof(&'static str),
    #[error("proof does not lead to the expected root hash")]
    RootMismatch,
    #[error("hash storage: {0}")]
    Storage(String),
}

/// RFC 6962 leaf hash: `SHA-256(0x00 || data)`.
///
/// The domain-separation prefix keeps a leaf from ever being mistaken for an
/// interior node (second-preimage resistance of the tree).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree: `SHA-256("")` (RFC 6962 §2.1, RFC 9162 §2.1.1).
///
/// Go's tlog uses an all-zero hash here instead; we follow the RFC so that
/// our roots are interchangeable with other RFC 6962/9162 implementations.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// Number of hashes stored before leaf `m`'s own hash, which is also the
/// number stored after `m` leaves: each leaf adds one hash per level it
/// completes, and summing that over `0..m` gives `2m - popcount(m)`.
fn hashes_before_leaf(m: u64) -> u64 {
    m.wrapping_mul(2).wrapping_sub(u64::from(m.count_ones()))
}

/// Position of node `(level, n)` in the stored hash sequence (Go tlog layout).
///
/// Level 0 holds the leaves; node `(level, n)` covers leaves
/// `[n << level, (n + 1) << level)`.
///
/// The result is exact for every node of a tree with at most
/// [`MAX_TREE_SIZE`] leaves. Beyond that the arithmetic wraps instead of
/// panicking; the functions here that read storage refuse such trees first.
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    // A node is written by the append of its last leaf, right after that
    // leaf's hash and the `level - 1` smaller subtrees the same append closes.
    let last_leaf = n
        .wrapping_add(1)
        .checked_shl(level)
        .unwrap_or(0)
        .wrapping_sub(1);
    hashes_before_leaf(last_leaf).wrapping_add(u64::from(level))
}

/// Number of stored hashes after `n` leaves have been appended.
pub fn stored_hash_count(n: u64) -> u64 {
    hashes_before_leaf(n)
}

/// Random access to the stored hash sequence.
pub trait HashReader {
    /// Returns the hashes at the given positions of the stored sequence, in
    /// the same order: exactly one hash per index, or an error.
    ///
    /// Callers here always pass indexes in strictly increasing order, so
    /// sequential stores can serve a request with one forward scan.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ProofError>;
}

impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ProofError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.get(i))
                    .copied()
                    .ok_or_else(|| {
                        ProofError::Storage(format!(
                            "stored hash {i} requested but only {} are stored",
                            self.len()
                        ))
                    })
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ProofError> {
        self.as_slice().read_hashes(indexes)
    }
}

impl<T: HashReader + ?Sized> HashReader for &T {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ProofError> {
        (**self).read_hashes(indexes)
    }
}

/// Reads `indexes`, refusing a reader that breaks the one-hash-per-index
/// contract: a short answer would otherwise surface later as a wrong root.
fn read_exact<R: HashReader + ?Sized>(r: &R, indexes: &[u64]) -> Result<Vec<Hash>, ProofError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = r.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(ProofError::Storage(format!(
            "asked for {} stored hashes, reader returned {}",
            indexes.len(),
            hashes.len()
        )));
    }
    Ok(hashes)
}

fn check_tree_size(size: u64) -> Result<(), ProofError> {
    if size > MAX_TREE_SIZE {
        return Err(ProofError::TreeTooLarge { size });
    }
    Ok(())
}

/// The hashes to append to the stored sequence when adding leaf number `n`
/// (0-based) whose leaf hash is `leaf`: the leaf hash itself, then the root
/// of each perfect subtree this leaf completes, smallest first.
///
/// Reads at most log2(n) earlier hashes from `r`: the left sibling of each
/// newly completed subtree.
pub fn stored_hashes_for_leaf<R: HashReader + ?Sized>(
    n: u64,
    leaf: &Hash,
    r: &R,
) -> Result<Vec<Hash>, ProofError> {
    check_tree_size(n.saturating_add(1))?;
    // Each trailing one bit of n is a level at which leaf n is a right child
    // whose left sibling is already stored, so the pair is now complete.
    let completed = n.trailing_ones();
    // Highest level first: those siblings cover earlier leaves, so their
    // stored indexes come out ascending.
    let indexes: Vec<u64> = (0..completed)
        .rev()
        .map(|level| stored_hash_index(level, (n >> level) - 1))
        .collect();
    let siblings = read_exact(r, &indexes)?;

    let mut out = Vec::with_capacity(siblings.len() + 1);
    let mut h = *leaf;
    out.push(h);
    for left in siblings.iter().rev() {
        h = node_hash(left, &h);
        out.push(h);
    }
    Ok(out)
}

/// Largest power of two strictly below `len` (`len >= 2`): RFC 6962's split
/// point `k`, which puts a perfect subtree on the left.
fn split_point(len: u64) -> u64 {
    1 << (63 - (len - 1).leading_zeros())
}

/// Hashes `nodes` (consecutive subtree roots, left to right) into the root of
/// the range they cover. Folding from the right mirrors RFC 6962's recursion,
/// which always splits a perfect left subtree off an arbitrary right part.
fn fold_from_right(nodes: impl DoubleEndedIterator<Item = Hash>) -> Option<Hash> {
    let mut it = nodes.rev();
    let mut acc = it.next()?;
    for left in it {
        acc = node_hash(&left, &acc);
    }
    Some(acc)
}

/// Stored indexes of the perfect subtrees that tile `[lo, hi)`, left to right.
///
/// Only valid for ranges that are themselves RFC 6962 subtrees (`lo` aligned
/// to the smallest power of two `>= hi - lo`), which is all that tree roots
/// and proofs ever ask for; for those, the greedy largest-first tiling is
/// exactly the RFC split.
fn subtree_indexes(mut lo: u64, hi: u64) -> Vec<u64> {
    let mut out = Vec::new();
    while lo < hi {
        let level = 63 - (hi - lo).leading_zeros();
        debug_assert_eq!(lo & ((1 << level) - 1), 0, "misaligned subtree range");
        out.push(stored_hash_index(level, lo >> level));
        lo += 1 << level;
    }
    out
}

/// Computes the root hash of each leaf range with a single read in ascending
/// index order, whatever order the ranges come in.
fn hash_ranges<R: HashReader + ?Sized>(
    ranges: &[(u64, u64)],
    r: &R,
) -> Result<Vec<Hash>, ProofError> {
    let per_range: Vec<Vec<u64>> = ranges
        .iter()
        .map(|&(lo, hi)| subtree_indexes(lo, hi))
        .collect();
    let mut wanted: Vec<u64> = per_range.iter().flatten().copied().collect();
    wanted.sort_unstable();
    wanted.dedup();
    let hashes = read_exact(r, &wanted)?;

    per_range
        .iter()
        .map(|indexes| {
            let nodes = indexes
                .iter()
                .map(|i| {
                    wanted
                        .binary_search(i)
                        .map(|pos| hashes[pos])
                        .map_err(|_| ProofError::Storage("stored index bookkeeping".into()))
                })
                .collect::<Result<Vec<Hash>, _>>()?;
            fold_from_right(nodes.into_iter()).ok_or(ProofError::BadProof("empty subtree range"))
        })
        .collect()
}

/// Root hash of the tree made of the first `size` leaves, using O(log n)
/// stored hashes (one per set bit of `size`).
pub fn tree_hash<R: HashReader + ?Sized>(size: u64, r: &R) -> Result<Hash, ProofError> {
    check_tree_size(size)?;
    if size == 0 {
        return Ok(empty_root());
    }
    let roots = hash_ranges(&[(0, size)], r)?;
    roots
        .into_iter()
        .next()
        .ok_or(ProofError::BadProof("empty subtree range"))
}

/// Leaf ranges whose subtree hashes make up the RFC 6962 audit path
/// `PATH(index, D[0:size])`, in proof order (nearest the leaf first).
fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi) = (0, size);
    let mut top_down = Vec::new();
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            top_down.push((mid, hi));
            hi = mid;
        } else {
            top_down.push((lo, mid));
            lo = mid;
        }
    }
    top_down.reverse();
    top_down
}

/// Leaf ranges whose subtree hashes make up the RFC 6962 consistency proof
/// `PROOF(old_size, D[0:new_size])`, in proof order. Needs
/// `0 < old_size < new_size`.
fn consistency_ranges(old_size: u64, new_size: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi) = (0, new_size);
    let mut top_down = Vec::new();
    // Invariant: lo < old_size <= hi. Walk down until the old tree's edge
    // coincides with the edge of the current subtree.
    while old_size != hi {
        let mid = lo + split_point(hi - lo);
        if old_size <= mid {
            top_down.push((mid, hi));
            hi = mid;
        } else {
            top_down.push((lo, mid));
            lo = mid;
        }
    }
    // A verifier already knows the old root, so when the common subtree is
    // the whole old tree its hash is left out (RFC 6962 SUBPROOF with b=true).
    if lo != 0 {
        top_down.push((lo, hi));
    }
    top_down.reverse();
    top_down
}

/// RFC 9162 §2.1.3.1 inclusion proof (RFC 6962 audit `PATH`) for leaf
/// `index` in the tree of the first `size` leaves.
pub fn prove_inclusion<R: HashReader + ?Sized>(
    size: u64,
    index: u64,
    r: &R,
) -> Result<Vec<Hash>, ProofError> {
    check_tree_size(size)?;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    hash_ranges(&inclusion_ranges(index, size), r)
}

/// Length of a valid inclusion proof: one hash per level where the leaf's
/// path differs from the tree's right edge (`inner`), plus one per level
/// above that where the path has a left sibling (`border`); right-edge levels
/// without a sibling contribute nothing.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// RFC 9162 §2.1.3.2 verification: `proof` shows that `leaf` is leaf `index`
/// of the tree of `size` leaves whose root is `root`.
pub fn check_inclusion(
    proof: &[Hash],
    size: u64,
    root: &Hash,
    index: u64,
    leaf: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::ProofLength {
            expected,
            got: proof.len(),
        });
    }

    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::BadProof("inclusion proof longer than the path"));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            // On the right edge the path skips levels where the node has no
            // sibling; shift past them.
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::BadProof(
            "inclusion proof shorter than the path",
        ));
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.1 consistency proof (RFC 6962 `PROOF`) that the tree of
/// the first `new_size` leaves extends the tree of the first `old_size`.
///
/// Empty when `old_size == new_size` or `old_size == 0`: nothing needs
/// proving.
pub fn prove_consistency<R: HashReader + ?Sized>(
    new_size: u64,
    old_size: u64,
    r: &R,
) -> Result<Vec<Hash>, ProofError> {
    check_tree_size(new_size)?;
    if old_size > new_size {
        return Err(ProofError::SizeOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    hash_ranges(&consistency_ranges(old_size, new_size), r)
}

/// Length of a valid consistency proof for `0 < old_size < new_size`.
///
/// The proof is the inclusion path of the old tree's last leaf minus the
/// levels inside the old tree's last perfect subtree (the verifier can start
/// from that subtree's hash instead), plus that hash itself unless it is the
/// whole old root, which the verifier already has.
fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    let last = old_size - 1;
    let inner = 64 - (last ^ (new_size - 1)).leading_zeros();
    let border = last.checked_shr(inner).unwrap_or(0).count_ones();
    let shift = old_size.trailing_zeros();
    let seed = u32::from(!old_size.is_power_of_two());
    (inner.saturating_sub(shift) + border + seed) as usize
}

/// RFC 9162 §2.1.4.2 verification: `proof` shows that the tree of `new_size`
/// leaves with root `new_root` extends the tree of `old_size` leaves with
/// root `old_root`.
///
/// When `old_size == 0` the proof must be empty and `old_root` must be
/// [`empty_root`]: the empty tree is a prefix of every tree, but a claimed
/// empty tree with any other root is false. When the sizes are equal the
/// proof must be empty and the roots equal.
pub fn check_consistency(
    proof: &[Hash],
    new_size: u64,
    new_root: &Hash,
    old_size: u64,
    old_root: &Hash,
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizeOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::ProofLength {
                expected: 0,
                got: proof.len(),
            });
        }
        if old_size == 0 && *old_root != empty_root() {
            return Err(ProofError::RootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }

    let expected = consistency_proof_len(old_size, new_size);
    if proof.len() != expected {
        return Err(ProofError::ProofLength {
            expected,
            got: proof.len(),
        });
    }

    // When the old tree is a perfect subtree its root is the starting point;
    // otherwise the proof's first hash is the old tree's last perfect subtree.
    let (seed, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err(ProofError::BadProof("consistency proof is empty")),
        }
    };

    let (mut f, mut s) = (old_size - 1, new_size - 1);
    // Climb out of the old tree's last perfect subtree: the seed already
    // stands for it.
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut old_r, mut new_r) = (seed, seed);
    for c in rest {
        if s == 0 {
            return Err(ProofError::BadProof(
                "consistency proof longer than the path",
            ));
        }
        if f & 1 == 1 || f == s {
            old_r = node_hash(c, &old_r);
            new_r = node_hash(c, &new_r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            // Hashes to the right of the old tree belong to the new tree only.
            new_r = node_hash(&new_r, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::BadProof(
            "consistency proof shorter than the path",
        ));
    }
    if old_r != *old_root || new_r != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Streaming builder that recomputes a whole tree in one pass over its leaf
/// hashes, in O(log n) memory, producing the same stored hashes as
/// [`stored_hashes_for_leaf`] without reading storage.
#[derive(Clone, Debug, Default)]
pub struct TreeBuilder {
    size: u64,
    /// Roots of the perfect subtrees that tile `[0, size)`, largest (leftmost)
    /// first: one per set bit of `size`. This is all the state any future
    /// append or root computation can need.
    frontier: Vec<Hash>,
}

impl TreeBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the next leaf hash and returns exactly the hashes
    /// [`stored_hashes_for_leaf`] would append for it.
    pub fn push(&mut self, leaf: Hash) -> Vec<Hash> {
        let merges = self.size.trailing_ones() as usize;
        let keep = self.frontier.len().saturating_sub(merges);
        let mut out = Vec::with_capacity(merges + 1);
        let mut h = leaf;
        out.push(h);
        // The smallest frontier subtrees are the left siblings this leaf
        // completes, nearest first.
        for left in self.frontier.drain(keep..).rev() {
            h = node_hash(&left, &h);
            out.push(h);
        }
        self.frontier.push(h);
        self.size += 1;
        out
    }

    /// Number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Root hash of the tree of all leaves pushed so far.
    pub fn root(&self) -> Hash {
        fold_from_right(self.frontier.iter().copied()).unwrap_or_else(empty_root)
    }
}

/// Naive reference: RFC 6962 `MTH` computed by direct recursion over all leaf
/// hashes. O(n) hashing and no storage; meant for tests and cross-checks.
pub fn root_from_leaves(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [only] => *only,
        _ => {
            let k = split_point(leaves.len() as u64) as usize;
            node_hash(
                &root_from_leaves(&leaves[..k]),
                &root_from_leaves(&leaves[k..]),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;

    fn h(s: &str) -> Hash {
        let bytes = hex::decode(s).expect("valid hex");
        bytes.try_into().expect("32-byte hash")
    }

    fn hs(v: &[&str]) -> Vec<Hash> {
        v.iter().map(|s| h(s)).collect()
    }

    fn flip(mut x: Hash, bit: usize) -> Hash {
        x[bit / 8 % HASH_SIZE] ^= 1 << (bit % 8);
        x
    }

    /// Distinct pseudo-random leaf hashes, cheap to generate and shrink.
    fn leaves_for(seed: u64, n: usize) -> Vec<Hash> {
        (0..n as u64)
            .map(|i| leaf_hash(&[seed.to_le_bytes(), i.to_le_bytes()].concat()))
            .collect()
    }

    /// Stored hash sequence built the way the log writer builds it.
    fn store(leaves: &[Hash]) -> Vec<Hash> {
        let mut stored: Vec<Hash> = Vec::new();
        for (n, leaf) in leaves.iter().enumerate() {
            let add = stored_hashes_for_leaf(n as u64, leaf, &stored).unwrap();
            stored.extend(add);
        }
        stored
    }

    /// A reader that records every request, to check the read discipline.
    struct Recording<'a> {
        inner: &'a [Hash],
        log: std::cell::RefCell<Vec<Vec<u64>>>,
    }

    impl HashReader for Recording<'_> {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ProofError> {
            self.log.borrow_mut().push(indexes.to_vec());
            self.inner.read_hashes(indexes)
        }
    }

    // ---------------------------------------------------------------------
    // Published RFC 6962 test vectors.
    //
    // Source: github.com/transparency-dev/merkle, proof/verify_test.go
    // (commit 02194e9afb6c1d95b5381350007963aa70fff472): the variables
    // `leaves`, `roots`, `inclusionProofs` and `consistencyProofs`, and the
    // corruption probes of `corruptInclusionProof` /
    // `corruptConsistencyProof`. The same vectors appear in
    // google/certificate-transparency-go's merkletree tests.
    // ---------------------------------------------------------------------

    const CT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// `sha256SomeHash` from the same file, used there as a wrong root.
    const CT_SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

    /// (leaf index, tree size, path). The source numbers leaves from 1
    /// (`{1, 8, ...}` is leaf 0); converted to 0-based indexes here. Its
    /// `{0, 0, nil}` entry is an invalid probe, covered by the edge tests.
    fn ct_inclusion() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (0, 1, vec![]),
            (
                0,
                8,
                hs(&[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ]),
            ),
            (
                5,
                8,
                hs(&[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ]),
            ),
            (
                2,
                3,
                hs(&["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
            ),
            (
                1,
                5,
                hs(&[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ]),
            ),
        ]
    }

    /// (old size, new size, proof).
    fn ct_consistency() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (1, 1, vec![]),
            (
                1,
                8,
                hs(&[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ]),
            ),
            (
                6,
                8,
                hs(&[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ]),
            ),
            (
                2,
                5,
                hs(&[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ]),
            ),
            (
                6,
                7,
                hs(&[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ]),
            ),
        ]
    }

    fn ct_leaf_hashes() -> Vec<Hash> {
        CT_LEAVES
            .iter()
            .map(|s| leaf_hash(&hex::decode(s).unwrap()))
            .collect()
    }

    #[test]
    fn vectors_hash_primitives() {
        // Source: github.com/transparency-dev/merkle, rfc6962/rfc6962_test.go
        // (commit 78493b07ef9b552e3379abf9e23d4da26fbe797c), TestRFC6962Hasher.
        assert_eq!(
            empty_root(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            leaf_hash(b""),
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        assert_eq!(
            leaf_hash(b"L123456"),
            h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
        );
        assert_ne!(empty_root(), leaf_hash(b""));
    }

    #[test]
    fn vectors_roots() {
        let leaves = ct_leaf_hashes();
        let stored = store(&leaves);
        let mut builder = TreeBuilder::new();
        for (i, want) in CT_ROOTS.iter().enumerate() {
            let size = i as u64 + 1;
            builder.push(leaves[i]);
            let want = h(want);
            assert_eq!(
                root_from_leaves(&leaves[..=i]),
                want,
                "reference, size {size}"
            );
            assert_eq!(
                tree_hash(size, &stored).unwrap(),
                want,
                "stored, size {size}"
            );
            assert_eq!(builder.root(), want, "builder, size {size}");
        }
    }

    #[test]
    fn vectors_inclusion() {
        let leaves = ct_leaf_hashes();
        let stored = store(&leaves);
        let some = h(CT_SOME_HASH);
        for (index, size, want) in ct_inclusion() {
            let root = h(CT_ROOTS[size as usize - 1]);
            let leaf = leaves[index as usize];
            assert_eq!(prove_inclusion(size, index, &stored).unwrap(), want);
            assert_eq!(check_inclusion(&want, size, &root, index, &leaf), Ok(()));

            // The source's corruption probes. Its byte-string stand-ins
            // ("WrongLeaf", an empty slice as garbage) become hashes because
            // this API only carries 32-byte hashes.
            let garbage = [0u8; HASH_SIZE];
            let with = |front: Option<Hash>, back: Option<Hash>| -> Vec<Hash> {
                front.into_iter().chain(want.clone()).chain(back).collect()
            };
            let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
                (index.wrapping_sub(1), size, root, leaf, want.clone()),
                (index + 1, size, root, leaf, want.clone()),
                (index ^ 2, size, root, leaf, want.clone()),
                (index, size * 2, root, leaf, want.clone()),
                (index, size / 2, root, leaf, want.clone()),
                (index, size, root, leaf_hash(b"WrongLeaf"), want.clone()),
                (index, size, empty_root(), leaf, want.clone()),
                (index, size, some, leaf, want.clone()),
                (index, size, root, leaf, with(None, Some(garbage))),
                (index, size, root, leaf, with(None, Some(root))),
                (index, size, root, leaf, with(Some(garbage), None)),
                (index, size, root, leaf, with(Some(root), None)),
            ];
            for i in 0..want.len() {
                let mut p = want.clone();
                p[i][0] ^= 8;
                probes.push((index, size, root, leaf, p));
            }
            if !want.is_empty() {
                probes.push((index, size, root, leaf, want[..want.len() - 1].to_vec()));
            }
            if want.len() > 1 {
                let mut p = vec![some, want[0]];
                p.extend_from_slice(&want[1..]);
                probes.push((index, size, root, leaf, p));
            }
            for (n, (i, s, r, l, p)) in probes.iter().enumerate() {
                assert!(
                    check_inclusion(p, *s, r, *i, l).is_err(),
                    "probe {n} for ({index}, {size}) verified"
                );
            }
        }
    }

    #[test]
    fn vectors_consistency() {
        let leaves = ct_leaf_hashes();
        let stored = store(&leaves);
        for (old, new, want) in ct_consistency() {
            let old_root = h(CT_ROOTS[old as usize - 1]);
            let new_root = h(CT_ROOTS[new as usize - 1]);
            assert_eq!(prove_consistency(new, old, &stored).unwrap(), want);
            assert_eq!(
                check_consistency(&want, new, &new_root, old, &old_root),
                Ok(())
            );
            // The source only corrupts non-trivial proofs.
            if want.is_empty() {
                continue;
            }
            let garbage = [0u8; HASH_SIZE];
            let with = |front: Option<Hash>, back: Option<Hash>| -> Vec<Hash> {
                front.into_iter().chain(want.clone()).chain(back).collect()
            };
            let wrong = leaf_hash(b"WrongRoot");
            let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
                (old - 1, new, old_root, new_root, want.clone()),
                (old + 1, new, old_root, new_root, want.clone()),
                (old ^ 2, new, old_root, new_root, want.clone()),
                (old, new * 2, old_root, new_root, want.clone()),
                (old, new / 2, old_root, new_root, want.clone()),
                (old, new, wrong, new_root, want.clone()),
                (old, new, old_root, wrong, want.clone()),
                (old, new, new_root, old_root, want.clone()),
                (old, new, old_root, new_root, vec![]),
                (old, new, old_root, new_root, with(None, Some(garbage))),
                (old, new, old_root, new_root, with(None, Some(old_root))),
                (old, new, old_root, new_root, with(None, Some(new_root))),
                (old, new, old_root, new_root, with(Some(garbage), None)),
                (old, new, old_root, new_root, with(Some(old_root), None)),
                (old, new, old_root, new_root, with(Some(new_root), None)),
                (old, new, old_root, new_root, with(Some(want[0]), None)),
                (
                    old,
                    new,
                    old_root,
                    new_root,
                    want[..want.len() - 1].to_vec(),
                ),
            ];
            for i in 0..want.len() {
                let mut p = want.clone();
                p[i][0] ^= 16;
                probes.push((old, new, old_root, new_root, p));
            }
            for (n, (o, nw, or, nr, p)) in probes.iter().enumerate() {
                assert!(
                    check_consistency(p, *nw, nr, *o, or).is_err(),
                    "probe {n} for ({old}, {new}) verified"
                );
            }
        }
    }

    // ---------------------------------------------------------------------
    // Published proof shapes.
    //
    // Source: github.com/transparency-dev/merkle, proof/proof_test.go
    // (commit 02a3e2029520f515596d5238c54fb0ac9e19bff4), TestInclusion and
    // TestConsistency. They list each proof as node IDs `id(level, index)`;
    // a `rehash(begin, end, ...)` span is one proof element: the hash of the
    // leaves those nodes cover together. Each group below is one element,
    // so its expected hash is MTH of the union of its nodes' leaf ranges.
    // ---------------------------------------------------------------------

    type Shape = &'static [&'static [(u32, u64)]];

    const SHAPE_INCLUSION: &[(u64, u64, Shape)] = &[
        (1, 0, &[]),
        (2, 0, &[&[(0, 1)]]),
        (2, 1, &[&[(0, 0)]]),
        (3, 1, &[&[(0, 0)], &[(0, 2)]]),
        (7, 0, &[&[(0, 1)], &[(1, 1)], &[(0, 6), (1, 2)]]),
        (7, 1, &[&[(0, 0)], &[(1, 1)], &[(0, 6), (1, 2)]]),
        (7, 2, &[&[(0, 3)], &[(1, 0)], &[(0, 6), (1, 2)]]),
        (7, 3, &[&[(0, 2)], &[(1, 0)], &[(0, 6), (1, 2)]]),
        (7, 4, &[&[(0, 5)], &[(0, 6)], &[(2, 0)]]),
        (7, 5, &[&[(0, 4)], &[(0, 6)], &[(2, 0)]]),
        (7, 6, &[&[(1, 2)], &[(2, 0)]]),
        (4, 2, &[&[(0, 3)], &[(1, 0)]]),
        (5, 3, &[&[(0, 2)], &[(1, 0)], &[(0, 4)]]),
        (6, 3, &[&[(0, 2)], &[(1, 0)], &[(1, 2)]]),
        (6, 4, &[&[(0, 5)], &[(2, 0)]]),
        (
            15,
            10,
            &[&[(0, 11)], &[(1, 4)], &[(0, 14), (1, 6)], &[(3, 0)]],
        ),
        (
            31,
            24,
            &[
                &[(0, 25)],
                &[(1, 13)],
                &[(0, 30), (1, 14)],
                &[(3, 2)],
                &[(4, 0)],
            ],
        ),
        (
            95,
            81,
            &[
                &[(0, 80)],
                &[(1, 41)],
                &[(2, 21)],
                &[(0, 94), (1, 46), (2, 22)],
                &[(4, 4)],
                &[(6, 0)],
            ],
        ),
    ];

    /// (old size, new size, shape).
    const SHAPE_CONSISTENCY: &[(u64, u64, Shape)] = &[
        (1, 2, &[&[(0, 1)]]),
        (1, 4, &[&[(0, 1)], &[(1, 1)]]),
        (1, 6, &[&[(0, 1)], &[(1, 1)], &[(1, 2)]]),
        (2, 3, &[&[(0, 2)]]),
        (2, 8, &[&[(1, 1)], &[(2, 1)]]),
        (3, 7, &[&[(0, 2)], &[(0, 3)], &[(1, 0)], &[(0, 6), (1, 2)]]),
        (4, 7, &[&[(0, 6), (1, 2)]]),
        (5, 7, &[&[(0, 4)], &[(0, 5)], &[(0, 6)], &[(2, 0)]]),
        (6, 7, &[&[(1, 2)], &[(0, 6)], &[(2, 0)]]),
        (7, 8, &[&[(0, 6)], &[(0, 7)], &[(1, 2)], &[(2, 0)]]),
        (1, 1, &[]),
        (2, 2, &[]),
        (3, 3, &[]),
        (4, 4, &[]),
        (5, 5, &[]),
        (7, 7, &[]),
        (8, 8, &[]),
        (2, 4, &[&[(1, 1)]]),
        (3, 5, &[&[(0, 2)], &[(0, 3)], &[(1, 0)], &[(0, 4)]]),
        (3, 6, &[&[(0, 2)], &[(0, 3)], &[(1, 0)], &[(1, 2)]]),
        (4, 6, &[&[(1, 2)]]),
        (1, 7, &[&[(0, 1)], &[(1, 1)], &[(0, 6), (1, 2)]]),
        (
            10,
            15,
            &[&[(1, 4)], &[(1, 5)], &[(0, 14), (1, 6)], &[(3, 0)]],
        ),
        (24, 31, &[&[(3, 2)], &[(0, 30), (1, 14), (2, 6)], &[(4, 0)]]),
        (
            81,
            95,
            &[
                &[(0, 80)],
                &[(0, 81)],
                &[(1, 41)],
                &[(2, 21)],
                &[(0, 94), (1, 46), (2, 22)],
                &[(4, 4)],
                &[(6, 0)],
            ],
        ),
    ];

    fn shape_hashes(leaves: &[Hash], shape: Shape) -> Vec<Hash> {
        shape
            .iter()
            .map(|group| {
                let lo = group.iter().map(|&(l, i)| i << l).min().unwrap();
                let hi = group.iter().map(|&(l, i)| (i + 1) << l).max().unwrap();
                let covered: u64 = group.iter().map(|&(l, _)| 1u64 << l).sum();
                assert_eq!(covered, hi - lo, "group must be contiguous");
                root_from_leaves(&leaves[lo as usize..hi as usize])
            })
            .collect()
    }

    #[test]
    fn vectors_proof_shapes() {
        let leaves = leaves_for(7, 95);
        let stored = store(&leaves);
        for &(size, index, shape) in SHAPE_INCLUSION {
            let want = shape_hashes(&leaves, shape);
            let got = prove_inclusion(size, index, &stored).unwrap();
            assert_eq!(got, want, "inclusion ({size}, {index})");
            let root = root_from_leaves(&leaves[..size as usize]);
            assert_eq!(
                check_inclusion(&got, size, &root, index, &leaves[index as usize]),
                Ok(())
            );
        }
        for &(old, new, shape) in SHAPE_CONSISTENCY {
            let want = shape_hashes(&leaves, shape);
            let got = prove_consistency(new, old, &stored).unwrap();
            assert_eq!(got, want, "consistency ({old}, {new})");
            let old_root = root_from_leaves(&leaves[..old as usize]);
            let new_root = root_from_leaves(&leaves[..new as usize]);
            assert_eq!(
                check_consistency(&got, new, &new_root, old, &old_root),
                Ok(())
            );
        }
        // The same source's rejected parameters.
        for (size, index) in [(0, 0), (0, 1), (1, 2), (0, 3), (7, 8)] {
            assert_eq!(
                prove_inclusion(size, index, &stored),
                Err(ProofError::IndexOutOfRange { index, size })
            );
        }
        for (old, new) in [(5, 0), (9, 8)] {
            assert_eq!(
                prove_consistency(new, old, &stored),
                Err(ProofError::SizeOrder {
                    old_size: old,
                    new_size: new
                })
            );
        }
    }

    // ---------------------------------------------------------------------
    // Layout and edge cases.
    // ---------------------------------------------------------------------

    #[test]
    fn layout_small_tree() {
        // Positions follow from the append rule: leaf 0, leaf 1, node(1,0),
        // leaf 2, leaf 3, node(1,1), node(2,0), leaf 4, ...
        let want = [
            ((0, 0), 0),
            ((0, 1), 1),
            ((1, 0), 2),
            ((0, 2), 3),
            ((0, 3), 4),
            ((1, 1), 5),
            ((2, 0), 6),
            ((0, 4), 7),
        ];
        for ((level, n), idx) in want {
            assert_eq!(stored_hash_index(level, n), idx, "({level}, {n})");
        }
        let counts = [0, 1, 3, 4, 7, 8, 10, 11, 15];
        for (n, c) in counts.into_iter().enumerate() {
            assert_eq!(stored_hash_count(n as u64), c, "count({n})");
        }
    }

    #[test]
    fn layout_matches_go_definition() {
        // Go defines the index by walking down to level 0 (n -> 2n+1 per
        // level) and summing n + n/2 + n/4 + ...; check our closed form.
        fn go_style(level: u32, n: u64) -> u64 {
            let mut m = n;
            for _ in 0..level {
                m = 2 * m + 1;
            }
            let mut i = 0;
            while m > 0 {
                i += m;
                m >>= 1;
            }
            i + u64::from(level)
        }
        for level in 0..12 {
            for n in 0..300 {
                assert_eq!(stored_hash_index(level, n), go_style(level, n));
            }
        }
        for n in 1..2000u64 {
            let by_def = stored_hash_index(0, n - 1) + 1 + u64::from((n - 1).trailing_ones());
            assert_eq!(stored_hash_count(n), by_def);
        }
        // Largest supported tree: no wrap-around, and its root is the last
        // hash stored.
        assert_eq!(stored_hash_count(MAX_TREE_SIZE), (1 << 63) - 1);
        assert_eq!(stored_hash_index(62, 0), (1 << 63) - 2);
    }

    #[test]
    fn empty_tree() {
        let stored: Vec<Hash> = Vec::new();
        assert_eq!(tree_hash(0, &stored), Ok(empty_root()));
        assert_eq!(TreeBuilder::new().root(), empty_root());
        assert_eq!(TreeBuilder::new().size(), 0);
        assert_eq!(root_from_leaves(&[]), empty_root());
        assert_eq!(stored_hash_count(0), 0);
        assert_eq!(
            prove_inclusion(0, 0, &stored),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            check_inclusion(&[], 0, &empty_root(), 0, &empty_root()),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(prove_consistency(0, 0, &stored), Ok(vec![]));
        assert_eq!(
            check_consistency(&[], 0, &empty_root(), 0, &empty_root()),
            Ok(())
        );
        // A claimed empty tree must carry the empty root.
        let other = leaf_hash(b"x");
        assert_eq!(
            check_consistency(&[], 0, &other, 0, &other),
            Err(ProofError::RootMismatch)
        );
    }

    #[test]
    fn consistency_edges() {
        let leaves = leaves_for(1, 5);
        let stored = store(&leaves);
        let r5 = tree_hash(5, &stored).unwrap();
        let r3 = tree_hash(3, &stored).unwrap();
        // From the empty tree: trivially consistent, but only with no proof.
        assert_eq!(prove_consistency(5, 0, &stored), Ok(vec![]));
        assert_eq!(check_consistency(&[], 5, &r5, 0, &empty_root()), Ok(()));
        assert_eq!(
            check_consistency(&[r5], 5, &r5, 0, &empty_root()),
            Err(ProofError::ProofLength {
                expected: 0,
                got: 1
            })
        );
        assert_eq!(
            check_consistency(&[], 5, &r5, 0, &r3),
            Err(ProofError::RootMismatch)
        );
        // Same size: empty proof and equal roots.
        assert_eq!(prove_consistency(5, 5, &stored), Ok(vec![]));
        assert_eq!(check_consistency(&[], 5, &r5, 5, &r5), Ok(()));
        assert_eq!(
            check_consistency(&[], 5, &r5, 5, &r3),
            Err(ProofError::RootMismatch)
        );
        assert!(check_consistency(&[r5], 5, &r5, 5, &r5).is_err());
        // Going back in time.
        assert_eq!(
            check_consistency(&[], 3, &r3, 5, &r5),
            Err(ProofError::SizeOrder {
                old_size: 5,
                new_size: 3
            })
        );
        // Missing proof for a real extension.
        assert!(matches!(
            check_consistency(&[], 5, &r5, 3, &r3),
            Err(ProofError::ProofLength { got: 0, .. })
        ));
    }

    #[test]
    fn huge_sizes_do_not_panic() {
        let x = leaf_hash(b"x");
        let stored: Vec<Hash> = Vec::new();
        for size in [
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
            (1 << 63) + 1,
            MAX_TREE_SIZE + 1,
        ] {
            for index in [0, 1, size / 2, size - 2, size - 1, u64::MAX] {
                for len in [0, 1, 63, 64, 65, 128] {
                    let proof = vec![x; len];
                    assert!(check_inclusion(&proof, size, &x, index, &x).is_err());
                    assert!(check_consistency(&proof, size, &x, index, &x).is_err() || len == 0);
                    assert!(check_consistency(&proof, index, &x, size, &x).is_err() || len == 0);
                }
            }
            assert_eq!(
                tree_hash(size, &stored),
                Err(ProofError::TreeTooLarge { size })
            );
            assert_eq!(
                prove_inclusion(size, 0, &stored),
                Err(ProofError::TreeTooLarge { size })
            );
            assert_eq!(
                prove_consistency(size, 1, &stored),
                Err(ProofError::TreeTooLarge { size })
            );
        }
        assert!(matches!(
            stored_hashes_for_leaf(u64::MAX, &x, &stored),
            Err(ProofError::TreeTooLarge { .. })
        ));
        // Right lengths at the largest sizes still reach the root check.
        let size = u64::MAX;
        for index in [0, size / 2, size - 1] {
            let proof = vec![x; inclusion_proof_len(index, size)];
            assert_eq!(
                check_inclusion(&proof, size, &x, index, &x),
                Err(ProofError::RootMismatch)
            );
        }
        for old in [1, 3, 1 << 40, size - 1] {
            let proof = vec![x; consistency_proof_len(old, size)];
            assert_eq!(
                check_consistency(&proof, size, &x, old, &x),
                Err(ProofError::RootMismatch)
            );
        }
        let _ = stored_hash_index(u32::MAX, u64::MAX);
        let _ = stored_hash_index(64, 1);
        let _ = stored_hash_count(u64::MAX);
    }

    #[test]
    fn storage_errors_propagate() {
        let leaves = leaves_for(3, 10);
        let stored = store(&leaves);
        // Too few stored hashes for the requested tree.
        let short = &stored[..stored.len() - 3];
        assert!(matches!(tree_hash(10, short), Err(ProofError::Storage(_))));
        assert!(matches!(
            prove_inclusion(10, 9, short),
            Err(ProofError::Storage(_))
        ));
        // A reader that returns the wrong number of hashes.
        struct Liar;
        impl HashReader for Liar {
            fn read_hashes(&self, _: &[u64]) -> Result<Vec<Hash>, ProofError> {
                Ok(vec![[0; HASH_SIZE]])
            }
        }
        assert!(matches!(tree_hash(7, &Liar), Err(ProofError::Storage(_))));
        assert!(matches!(
            stored_hashes_for_leaf(3, &leaves[3], &Liar),
            Err(ProofError::Storage(_))
        ));
    }

    #[test]
    fn reads_are_few_and_ascending() {
        let leaves = leaves_for(5, 300);
        let stored = store(&leaves);
        let rec = Recording {
            inner: &stored,
            log: Default::default(),
        };
        let check = |what: &str| {
            let log = rec.log.take();
            assert!(log.len() <= 1, "{what}: {} reads", log.len());
            for req in log {
                assert!(req.len() <= 2 * 64, "{what}: {} hashes", req.len());
                assert!(req.windows(2).all(|w| w[0] < w[1]), "{what}: {req:?}");
            }
        };
        for size in [1u64, 2, 7, 64, 255, 300] {
            tree_hash(size, &rec).unwrap();
            check("tree_hash");
            for index in [0, size / 3, size - 1] {
                prove_inclusion(size, index, &rec).unwrap();
                check("prove_inclusion");
            }
            for old in [1, size / 2 + 1, size - 1] {
                prove_consistency(size, old.min(size), &rec).unwrap();
                check("prove_consistency");
            }
        }
        for n in [0u64, 1, 3, 127, 255] {
            stored_hashes_for_leaf(n, &leaves[n as usize], &rec).unwrap();
            check("stored_hashes_for_leaf");
        }
    }

    #[test]
    fn exhaustive_small_trees() {
        let leaves = leaves_for(11, 40);
        let stored = store(&leaves);
        for size in 1..=40u64 {
            let root = root_from_leaves(&leaves[..size as usize]);
            for index in 0..size {
                let p = prove_inclusion(size, index, &stored).unwrap();
                assert_eq!(p.len(), inclusion_proof_len(index, size));
                assert_eq!(
                    check_inclusion(&p, size, &root, index, &leaves[index as usize]),
                    Ok(())
                );
            }
            for old in 1..size {
                let old_root = root_from_leaves(&leaves[..old as usize]);
                let p = prove_consistency(size, old, &stored).unwrap();
                assert_eq!(p.len(), consistency_proof_len(old, size));
                assert_eq!(check_consistency(&p, size, &root, old, &old_root), Ok(()));
            }
        }
    }

    // ---------------------------------------------------------------------
    // Property tests against the naive reference.
    // ---------------------------------------------------------------------

    proptest! {
        // Checking every prefix against the naive reference is quadratic in
        // the tree size, so this one runs fewer cases than the others.
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn prop_stored_sequence(seed in any::<u64>(), n in 0usize..300) {
            let leaves = leaves_for(seed, n);
            let mut stored: Vec<Hash> = Vec::new();
            let mut builder = TreeBuilder::new();
            for (i, leaf) in leaves.iter().enumerate() {
                let add = stored_hashes_for_leaf(i as u64, leaf, &stored).unwrap();
                prop_assert_eq!(&builder.push(*leaf), &add);
                stored.extend(add);
                let size = i as u64 + 1;
                prop_assert_eq!(stored.len() as u64, stored_hash_count(size));
                prop_assert_eq!(builder.size(), size);
                let want = root_from_leaves(&leaves[..=i]);
                prop_assert_eq!(builder.root(), want);
                prop_assert_eq!(tree_hash(size, &stored).unwrap(), want);
            }
            prop_assert_eq!(tree_hash(0, &stored).unwrap(), empty_root());
            // Every stored node sits where stored_hash_index says.
            for level in 0..10u32 {
                for k in 0..(n as u64 >> level) {
                    let want = root_from_leaves(&leaves[(k << level) as usize..((k + 1) << level) as usize]);
                    prop_assert_eq!(stored[stored_hash_index(level, k) as usize], want);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn prop_inclusion(
            seed in any::<u64>(),
            n in 1usize..300,
            pick_size in any::<Index>(),
            pick_index in any::<Index>(),
            bits in prop::collection::vec(0usize..256, 3),
        ) {
            let leaves = leaves_for(seed, n);
            let stored = store(&leaves);
            let size = pick_size.index(n) as u64 + 1;
            let root = root_from_leaves(&leaves[..size as usize]);
            for index in 0..size {
                let p = prove_inclusion(size, index, &stored).unwrap();
                prop_assert_eq!(check_inclusion(&p, size, &root, index, &leaves[index as usize]), Ok(()));
            }

            let index = pick_index.index(size as usize) as u64;
            let leaf = leaves[index as usize];
            let proof = prove_inclusion(size, index, &stored).unwrap();
            for i in 0..proof.len() {
                let mut p = proof.clone();
                p[i] = flip(p[i], bits[0]);
                prop_assert!(check_inclusion(&p, size, &root, index, &leaf).is_err());
            }
            prop_assert!(check_inclusion(&proof, size, &root, index, &flip(leaf, bits[1])).is_err());
            prop_assert!(check_inclusion(&proof, size, &flip(root, bits[2]), index, &leaf).is_err());
            for b in 0..64 {
                prop_assert!(check_inclusion(&proof, size, &root, index ^ (1 << b), &leaf).is_err());
            }
            let mut longer = proof.clone();
            longer.push(root);
            prop_assert!(check_inclusion(&longer, size, &root, index, &leaf).is_err());
            if !proof.is_empty() {
                prop_assert!(check_inclusion(&proof[1..], size, &root, index, &leaf).is_err());
            }
        }

        #[test]
        fn prop_consistency(
            seed in any::<u64>(),
            n in 1usize..300,
            pick_new in any::<Index>(),
            pick_old in any::<Index>(),
            bits in prop::collection::vec(0usize..256, 3),
        ) {
            let leaves = leaves_for(seed, n);
            let stored = store(&leaves);
            let new = pick_new.index(n) as u64 + 1;
            let old = pick_old.index(new as usize + 1) as u64;
            let new_root = root_from_leaves(&leaves[..new as usize]);
            let old_root = root_from_leaves(&leaves[..old as usize]);
            let proof = prove_consistency(new, old, &stored).unwrap();
            prop_assert_eq!(check_consistency(&proof, new, &new_root, old, &old_root), Ok(()));

            for i in 0..proof.len() {
                let mut p = proof.clone();
                p[i] = flip(p[i], bits[0]);
                prop_assert!(check_consistency(&p, new, &new_root, old, &old_root).is_err());
            }
            prop_assert!(check_consistency(&proof, new, &new_root, old, &flip(old_root, bits[1])).is_err());
            // From the empty tree nothing binds the new root.
            if old != 0 {
                prop_assert!(check_consistency(&proof, new, &flip(new_root, bits[2]), old, &old_root).is_err());
            }
            let mut longer = proof.clone();
            longer.push(new_root);
            prop_assert!(check_consistency(&longer, new, &new_root, old, &old_root).is_err());
            if !proof.is_empty() {
                prop_assert!(check_consistency(&proof[1..], new, &new_root, old, &old_root).is_err());
                prop_assert!(check_consistency(&proof[..proof.len() - 1], new, &new_root, old, &old_root).is_err());
            }
            // Every old size against this new tree. Prefix roots come from
            // the builder, which prop_stored_sequence ties to the reference.
            let mut builder = TreeBuilder::new();
            for o in 0..=new {
                let p = prove_consistency(new, o, &stored).unwrap();
                prop_assert_eq!(check_consistency(&p, new, &new_root, o, &builder.root()), Ok(()));
                if o < new {
                    builder.push(leaves[o as usize]);
                }
            }
        }

        #[test]
        fn prop_checks_never_panic(
            size in any::<u64>(),
            other in any::<u64>(),
            proof in prop::collection::vec(any::<[u8; 32]>(), 0..70),
            a in any::<[u8; 32]>(),
            b in any::<[u8; 32]>(),
        ) {
            let _ = check_inclusion(&proof, size, &a, other, &b);
            let _ = check_inclusion(&proof, size, &a, other % size.max(1), &b);
            let _ = check_consistency(&proof, size, &a, other, &b);
            let _ = check_consistency(&proof, size, &a, other % size.saturating_add(1).max(1), &b);
        }
    }
}
