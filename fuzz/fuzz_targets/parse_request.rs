//! The request-head parser: never panics, and gives one verdict however the
//! input is split, whole or through the incremental scan.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks where the input is split; the rest is the input.
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    tramline::__fuzz::parse_request(input, usize::from(split));
    // And fed in small reads through the connection's incremental scan.
    tramline::__fuzz::parse_request_in_pieces(input, usize::from(split % 16) + 1);
});
