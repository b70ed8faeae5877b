//! The request-head parser: never panics, and gives one verdict however the
//! input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks where the input is split; the rest is the input.
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    tramline::__fuzz::parse_request(input, usize::from(split));
});
