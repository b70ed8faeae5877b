//! `Range: bytes=...` (RFC 9110 §14.1.2): which bytes of a file to send.

use std::ops::Range;

/// Most ranges one request may ask for; past it the header is ignored and
/// the whole file is sent (RFC 9110 §14.2 lets a server ignore a range set
/// that looks like an attack: many small ranges cost a part header each).
const MAX_RANGES: usize = 32;

/// What a `Range` header asks of a file of a known length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ranges {
    /// Not a byte range set we can use: send the whole file, `200`.
    Ignore,
    /// None of the ranges overlaps the file: `416`.
    Unsatisfiable,
    /// The satisfiable ranges, in the order asked, none empty, none
    /// overlapping: `206`.
    Satisfiable(Vec<Range<u64>>),
}

/// Parses `header` against a file of `len` bytes.
///
/// A malformed header, or one in another unit, is ignored (§14.2: "a
/// server MAY ignore the Range header field"); ranges that start past the
/// end are dropped, and a set left empty is unsatisfiable. Overlapping or
/// adjacent ranges are coalesced (sorted), so no byte is sent twice.
pub(crate) fn parse(header: &str, len: u64) -> Ranges {
    let Some((unit, set)) = header.split_once('=') else {
        return Ranges::Ignore;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranges::Ignore;
    }
    let mut ranges = Vec::new();
    let mut count = 0;
    for spec in set.split(',') {
        let spec = spec.trim();
        // §5.6.1: empty list elements are allowed and mean nothing.
        if spec.is_empty() {
            continue;
        }
        count += 1;
        if count > MAX_RANGES {
            return Ranges::Ignore;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Ranges::Ignore;
        };
        let range = match (first.trim(), last.trim()) {
            ("", "") => return Ranges::Ignore,
            // `-N`: the last N bytes.
            ("", suffix) => {
                let Some(suffix) = digits(suffix) else {
                    return Ranges::Ignore;
                };
                len.saturating_sub(suffix)..len
            }
            (first, last) => {
                let Some(first) = digits(first) else {
                    return Ranges::Ignore;
                };
                let end = if last.is_empty() {
                    len
                } else {
                    let Some(last) = digits(last) else {
                        return Ranges::Ignore;
                    };
                    // §14.1.1: a last position below the first makes the
                    // whole set invalid.
                    if last < first {
                        return Ranges::Ignore;
                    }
                    last.saturating_add(1).min(len)
                };
                first..end
            }
        };
        if range.start < range.end {
            ranges.push(range);
        }
    }
    if count == 0 {
        return Ranges::Ignore;
    }
    if ranges.is_empty() {
        return Ranges::Unsatisfiable;
    }
    Ranges::Satisfiable(coalesce(ranges))
}

/// Parses `1*DIGIT`; `None` for anything else or an overflow.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Leaves `ranges` as they are when no two overlap or touch, else sorts
/// and merges them.
fn coalesce(mut ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    let mut sorted = ranges.clone();
    sorted.sort_by_key(|r| r.start);
    if sorted.windows(2).all(|w| w[0].end < w[1].start) {
        return ranges;
    }
    ranges.clear();
    for range in sorted {
        match ranges.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => ranges.push(range),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(ranges: &[Range<u64>]) -> Ranges {
        Ranges::Satisfiable(ranges.to_vec())
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init, reason = "a set of one range")]
    fn parses_range_sets_against_a_length() {
        let cases = [
            ("bytes=0-0", ok(&[0..1])),
            ("bytes=0-99", ok(&[0..100])),
            ("bytes=10-", ok(&[10..100])),
            ("bytes=-10", ok(&[90..100])),
            ("bytes=-1000", ok(&[0..100])),
            ("bytes=90-1000", ok(&[90..100])),
            ("Bytes = 1-2 , 5-6", ok(&[1..3, 5..7])),
            ("bytes=50-59,0-9", ok(&[50..60, 0..10])),
            ("bytes=0-9,5-19", ok(&[0..20])),
            ("bytes=0-9,10-19", ok(&[0..20])),
            ("bytes=20-29,0-9,5-24", ok(&[0..30])),
            ("bytes=0-1,,4-5", ok(&[0..2, 4..6])),
            ("bytes=100-,0-0", ok(&[0..1])),
            ("bytes=100-", Ranges::Unsatisfiable),
            ("bytes=100-200", Ranges::Unsatisfiable),
            ("bytes=-0", Ranges::Unsatisfiable),
            ("bytes=5-4", Ranges::Ignore),
            ("bytes=0-1,5-4", Ranges::Ignore),
            ("bytes=", Ranges::Ignore),
            ("bytes=-", Ranges::Ignore),
            ("bytes=a-b", Ranges::Ignore),
            ("bytes=+1-2", Ranges::Ignore),
            ("bytes=1", Ranges::Ignore),
            ("bytes=99999999999999999999-", Ranges::Ignore),
            ("items=0-1", Ranges::Ignore),
            ("0-1", Ranges::Ignore),
        ];
        for (header, want) in cases {
            assert_eq!(parse(header, 100), want, "{header:?}");
        }
        // An empty file satisfies no range.
        assert_eq!(parse("bytes=0-", 0), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=-5", 0), Ranges::Unsatisfiable);
    }

    #[test]
    fn too_many_ranges_are_ignored() {
        let set: Vec<String> = (0..=MAX_RANGES)
            .map(|i| format!("{}-{}", i * 2, i * 2))
            .collect();
        assert_eq!(
            parse(&format!("bytes={}", set.join(",")), 1000),
            Ranges::Ignore
        );
        let set = &set[..MAX_RANGES];
        assert!(
            matches!(parse(&format!("bytes={}", set.join(",")), 1000), Ranges::Satisfiable(r) if r.len() == MAX_RANGES)
        );
    }

    proptest! {
        #[test]
        fn satisfiable_ranges_lie_in_the_file_and_never_overlap(header in "bytes=[-0-9, ]{0,40}", len in 0u64..200) {
            if let Ranges::Satisfiable(ranges) = parse(&header, len) {
                prop_assert!(!ranges.is_empty());
                for r in &ranges {
                    prop_assert!(r.start < r.end && r.end <= len, "{:?}", r);
                }
                let mut sorted = ranges.clone();
                sorted.sort_by_key(|r| r.start);
                for w in sorted.windows(2) {
                    prop_assert!(w[0].end < w[1].start, "{:?}", ranges);
                }
            }
        }
    }
}
