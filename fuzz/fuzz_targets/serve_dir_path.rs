//! The `ServeDir` path check: never panics, and every path it accepts
//! stays under the served directory (no `..`, separator, NUL or drive
//! left in it), decoding percent-encoding once.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tramline::fs::__fuzz_path(data);
});
