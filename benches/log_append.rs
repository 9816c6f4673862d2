//! Appending to the Merkle log touches O(log n) stored hashes, not O(n).
//!
//! Run with `cargo bench --bench log_append` (a `harness = false` bench target; see
//! benches/BENCHMARKS.md). It builds the stored-hash sequence of `log/hashes` (docs/FORMAT.md
//! section 9.4) for 1,000,000 leaves in memory with the library's own append function, then,
//! for a log of n = 1,000 / 10,000 / 100,000 / 1,000,000 records, appends record n and
//! recomputes the root the way `Archive::commit` does, and reports:
//!
//! - how many stored hashes `stored_hashes_for_leaf` reads and how many it writes, for record n
//!   itself and at worst over every record in (n/2, n];
//! - how many `tree_hash` reads for the new root (one per set bit of n + 1);
//! - the median time of one append plus root, from memory and from a file through
//!   `exhibit::archive::local::StoredHashes` (one `pread` of 32 bytes per stored hash read, as a commit does);
//! - for contrast, the n leaf hashes a root recomputed from scratch would read.
//!
//! The reader only ever sees the hashes of the first n records, so a read beyond them would
//! fail rather than be miscounted. The run stops with an error if reads ever exceed log2(n) + 1.

use exhibit::archive::local::StoredHashes;
use exhibit::log::merkle::{self, Hash, HashReader, ProofError, TreeBuilder};
use std::cell::Cell;
use std::io::Write;
use std::time::Instant;

const SIZES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// Counts what passes through a `HashReader`: calls, hashes, and the highest index asked for.
struct Counting<R> {
    inner: R,
    calls: Cell<u64>,
    hashes: Cell<u64>,
}

impl<R: HashReader> Counting<R> {
    fn new(inner: R) -> Self {
        Counting {
            inner,
            calls: Cell::new(0),
            hashes: Cell::new(0),
        }
    }
}

impl<R: HashReader> HashReader for Counting<R> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ProofError> {
        self.calls.set(self.calls.get() + 1);
        self.hashes.set(self.hashes.get() + indexes.len() as u64);
        self.inner.read_hashes(indexes)
    }
}

fn leaf(i: u64) -> Hash {
    merkle::leaf_hash(format!("record {i}").as_bytes())
}

/// Stored hashes of the first `n` records: exactly what `log/hashes` holds for a log of n.
fn prefix(stored: &[Hash], n: u64) -> &[Hash] {
    &stored[..merkle::stored_hash_count(n) as usize]
}

/// Reads and writes of appending record `n` to a log of `n` records, then its new root's reads.
fn append_counts(stored: &[Hash], n: u64) -> (u64, u64, u64) {
    let r = Counting::new(prefix(stored, n));
    let added = merkle::stored_hashes_for_leaf(n, &leaf(n), &r).expect("append");
    assert_eq!(
        added[..],
        stored[merkle::stored_hash_count(n) as usize..][..added.len()]
    );
    let t = Counting::new(prefix(stored, n + 1));
    merkle::tree_hash(n + 1, &t).expect("root");
    assert!(
        r.calls.get() <= 1 && t.calls.get() <= 1,
        "one batched read each"
    );
    (r.hashes.get(), added.len() as u64, t.hashes.get())
}

/// Median nanoseconds of one append of record `n` plus the new root, over batches of runs.
fn time_append<R: HashReader, T: HashReader>(n: u64, before: &R, after: &T) -> f64 {
    let leaf = leaf(n);
    let batch = 200;
    let mut per_op: Vec<f64> = (0..41)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                let added = merkle::stored_hashes_for_leaf(n, &leaf, before).expect("append");
                let root = merkle::tree_hash(n + 1, after).expect("root");
                std::hint::black_box((added, root));
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    per_op.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    per_op[per_op.len() / 2]
}

fn main() {
    let max = *SIZES.iter().max().expect("sizes");
    // Build log/hashes for max + 1 records with the library's own append, reading back from the
    // sequence itself exactly as a commit reads log/hashes.
    let start = Instant::now();
    let mut stored: Vec<Hash> = Vec::with_capacity(merkle::stored_hash_count(max + 1) as usize);
    let mut total_reads = 0u64;
    for i in 0..=max {
        let r = Counting::new(&stored);
        let added = merkle::stored_hashes_for_leaf(i, &leaf(i), &r).expect("append");
        total_reads += r.hashes.get();
        stored.extend(added);
    }
    let build = start.elapsed();
    assert_eq!(stored.len() as u64, merkle::stored_hash_count(max + 1));
    // Cross-check against the independent in-memory builder.
    let mut builder = TreeBuilder::new();
    for i in 0..=max {
        builder.push(leaf(i));
    }
    assert_eq!(
        builder.root(),
        merkle::tree_hash(max + 1, &stored).expect("root")
    );
    println!(
        "built log/hashes for {} records: {} stored hashes ({:.1} MB) in {:.2} s; {} reads in all, {:.3} per append",
        max + 1,
        stored.len(),
        stored.len() as f64 * 32.0 / 1e6,
        build.as_secs_f64(),
        total_reads,
        total_reads as f64 / (max + 1) as f64
    );

    // The same sequence as a file, read through the reader `Archive::commit` uses.
    let mut file = tempfile::tempfile().expect("temporary file");
    for h in &stored {
        file.write_all(h).expect("write");
    }
    file.flush().expect("flush");

    println!();
    println!(
        "{:>9}  {:>6}  {:>11}  {:>11}  {:>12}  {:>12}  {:>10}  {:>10}  {:>10}",
        "records n",
        "log2 n",
        "reads (n)",
        "reads max",
        "writes (max)",
        "root reads",
        "naive",
        "ns memory",
        "ns file"
    );
    let mut rows = Vec::new();
    for &n in &SIZES {
        let (reads, writes, root_reads) = append_counts(&stored, n);
        // Worst case over the records of a log about this size: (n/2, n].
        let (mut worst_reads, mut worst_writes, mut worst_root) = (0, 0, 0);
        for m in n / 2 + 1..=n {
            let (r, w, t) = append_counts(&stored, m);
            assert_eq!(w, r + 1, "an append writes its leaf plus one hash per read");
            worst_reads = worst_reads.max(r);
            worst_writes = worst_writes.max(w);
            worst_root = worst_root.max(t);
        }
        let log2 = (n as f64).log2();
        assert!(
            (worst_reads as f64) <= log2 + 1.0 && (worst_root as f64) <= log2 + 1.0,
            "n = {n}: {worst_reads} append reads, {worst_root} root reads: not O(log n)"
        );
        let mem = time_append(n, &prefix(&stored, n), &prefix(&stored, n + 1));
        let on_disk_before = StoredHashes {
            file: Some(&file),
            on_disk: merkle::stored_hash_count(n),
            pending: &[],
        };
        let on_disk_after = StoredHashes {
            file: Some(&file),
            on_disk: merkle::stored_hash_count(n + 1),
            pending: &[],
        };
        let disk = time_append(n, &on_disk_before, &on_disk_after);
        println!(
            "{:>9}  {:>6.1}  {:>11}  {:>11}  {:>4} (max {:>2})  {:>4} (max {:>2})  {:>10}  {:>10.0}  {:>10.0}",
            n, log2, reads, worst_reads, writes, worst_writes, root_reads, worst_root, n, mem, disk
        );
        rows.push((n, worst_reads, worst_root));
    }
    println!();
    println!("reads (n): stored hashes read to append record n to a log of n records; reads max: the most");
    println!("over every record in (n/2, n]; writes: hashes appended for record n (max over the same range);");
    println!("root reads: stored hashes the new root needs (max over the same range); naive: leaf hashes a");
    println!("root recomputed from scratch reads.");
    println!(
        "Times are medians per append + root, from memory and via pread(2) of a page-cached file."
    );
    let first = rows.first().expect("rows");
    let last = rows.last().expect("rows");
    println!(
        "\nFrom n = {} to n = {} ({}x more records) the worst-case append reads go from {} to {} and",
        first.0,
        last.0,
        last.0 / first.0,
        first.1,
        last.1
    );
    println!(
        "root reads from {} to {}: they grow with log2(n) (+{:.1}), not with n.",
        first.2,
        last.2,
        (last.0 as f64 / first.0 as f64).log2()
    );
}
