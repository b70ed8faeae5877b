//! The chunked body decoder: never panics, and gives one body, leftover and
//! verdict however the input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks where the input is split; the rest is the input.
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    tramline::__fuzz::decode_chunked(input, usize::from(split));
});
