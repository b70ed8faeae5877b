//! The `Date` header value, formatted at most once per second per thread.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7 IMF-fixdate).
const LEN: usize = 29;

struct Cache {
    /// When the wall-clock second `value` names ends, on the monotonic
    /// clock: reading that clock and comparing costs less than reading the
    /// wall clock and converting it to seconds. `None` until first use.
    until: Option<Instant>,
    value: [u8; LEN],
}

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Cache { until: None, value: [0; LEN] }) };
}

/// Appends the current IMF-fixdate to `buf`.
pub(crate) fn extend(buf: &mut Vec<u8>) {
    CACHE.with_borrow_mut(|cache| {
        let now = Instant::now();
        if cache.until.is_none_or(|until| now >= until) {
            let wall = SystemTime::now();
            let since_epoch = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
            let text = httpdate::fmt_http_date(wall);
            if text.len() == LEN {
                cache.value.copy_from_slice(text.as_bytes());
                // A wall clock stepped back or forward shows within a second.
                let left = Duration::from_secs(1)
                    - Duration::from_nanos(since_epoch.subsec_nanos().into());
                cache.until = Some(now + left);
            }
        }
        buf.extend_from_slice(&cache.value);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_date_changes_with_the_second() {
        let mut first = Vec::new();
        extend(&mut first);
        let started = SystemTime::now();
        // Past the next second boundary, however close to one it started.
        std::thread::sleep(Duration::from_millis(1100));
        let mut second = Vec::new();
        extend(&mut second);
        assert_ne!(first, second, "{started:?}");
        let parsed = httpdate::parse_http_date(std::str::from_utf8(&second).unwrap()).unwrap();
        assert!(parsed > started - Duration::from_secs(1));
    }

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
