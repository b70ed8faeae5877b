//! A whole connection over an in-memory stream: never panics, the output
//! does not depend on how reads split the input, and no response follows a
//! response that closes the connection.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks where the input is split; the rest is the input.
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    tramline::__fuzz::connection(input, usize::from(split));
});
