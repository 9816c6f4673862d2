#![no_main]

// The checks live in src/lib.rs, shared with tests/fuzz_regressions.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| exhibit_fuzz::citation(data));
