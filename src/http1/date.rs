//! The `Date` header value, formatted at most once per second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7 IMF-fixdate).
const LEN: usize = 29;

struct Cache {
    second: u64,
    value: [u8; LEN],
}

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Cache { second: u64::MAX, value: [0; LEN] }) };
}

/// Appends the current IMF-fixdate to `buf`.
pub(crate) fn extend(buf: &mut Vec<u8>) {
    CACHE.with_borrow_mut(|cache| {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != cache.second {
            let text = httpdate::fmt_http_date(now);
            if text.len() == LEN {
                cache.value.copy_from_slice(text.as_bytes());
                cache.second = second;
            }
        }
        buf.extend_from_slice(&cache.value);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_an_imf_fixdate_that_parses_back() {
        let mut buf = Vec::new();
        extend(&mut buf);
        let text = std::str::from_utf8(&buf).unwrap();
        assert_eq!(text.len(), LEN);
        let parsed = httpdate::parse_http_date(text).unwrap();
        let drift = SystemTime::now().duration_since(parsed).unwrap();
        assert!(drift.as_secs() <= 2, "{text}");
    }
}
