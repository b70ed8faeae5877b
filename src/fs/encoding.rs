//! Which precompressed sibling (`.br`, `.gz`) a request accepts.

use http::HeaderMap;
use http::header::ACCEPT_ENCODING;

/// A content coding with a precompressed sibling file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    /// The `Content-Encoding` value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        }
    }

    /// The suffix of the sibling file that holds this coding.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gz",
        }
    }

    fn matches(self, coding: &str) -> bool {
        match self {
            Self::Brotli => coding.eq_ignore_ascii_case("br"),
            // RFC 9110 §8.4.1.3: `x-gzip` is an alias of `gzip`.
            Self::Gzip => {
                coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")
            }
        }
    }
}

/// Returns the codings of `enabled` that the request's `Accept-Encoding`
/// allows, best first: highest q-value, then the order of `enabled` (the
/// server's preference).
///
/// RFC 9110 §12.5.3: a coding the header does not name gets the q-value of
/// `*`, or is not acceptable without one; `q=0` means "not acceptable". No
/// header at all asks for no coding: the file is sent as it is.
pub(crate) fn preferred(headers: &HeaderMap, enabled: &[Encoding]) -> Vec<Encoding> {
    let mut ranked: Vec<(Encoding, u16)> = Vec::new();
    for &encoding in enabled {
        let mut named = None;
        let mut star = None;
        for value in headers.get_all(ACCEPT_ENCODING) {
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                let mut params = item.split(';');
                let coding = params.next().unwrap_or("").trim();
                let Some(q) = q_value(params) else { continue };
                if encoding.matches(coding) {
                    named = Some(named.map_or(q, |n: u16| n.max(q)));
                } else if coding == "*" {
                    star = Some(q);
                }
            }
        }
        let q = named.or(star).unwrap_or(0);
        if q > 0 {
            ranked.push((encoding, q));
        }
    }
    // Stable: equal q-values keep the server's order.
    ranked.sort_by_key(|&(_, q)| std::cmp::Reverse(q));
    ranked.into_iter().map(|(encoding, _)| encoding).collect()
}

/// Parses the `q` parameter of one `Accept-Encoding` item, in thousandths
/// (1000 when absent); `None` for a malformed one, which drops the item.
fn q_value<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    let mut q = 1000;
    for param in params {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        q = parse_q(value.trim())?;
    }
    Some(q)
}

/// RFC 9110 §12.4.2: `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`.
fn parse_q(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (i, digit) in frac.bytes().enumerate() {
        thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Encoding::{Brotli, Gzip};

    fn prefer(accept: Option<&str>) -> Vec<Encoding> {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(ACCEPT_ENCODING, accept.parse().unwrap());
        }
        preferred(&headers, &[Brotli, Gzip])
    }

    #[test]
    fn ranks_codings_by_q_value_then_server_order() {
        let cases: [(Option<&str>, &[Encoding]); 16] = [
            (None, &[]),
            (Some(""), &[]),
            (Some("identity"), &[]),
            (Some("gzip"), &[Gzip]),
            (Some("x-gzip"), &[Gzip]),
            (Some("gzip, deflate, br"), &[Brotli, Gzip]),
            (Some("GZIP;Q=0.5, BR;q=1.0"), &[Brotli, Gzip]),
            (Some("br;q=0.5, gzip;q=0.8"), &[Gzip, Brotli]),
            (Some("br;q=0, gzip"), &[Gzip]),
            (Some("gzip;q=0"), &[]),
            (Some("*"), &[Brotli, Gzip]),
            (Some("*;q=0.1, br;q=0"), &[Gzip]),
            (Some("gzip;q=0.001, *;q=0"), &[Gzip]),
            (Some("br;q=2, gzip;q=0.1234, *;q=0.3"), &[Brotli, Gzip]),
            (Some("br;q=abc, gzip;q=0.9"), &[Gzip]),
            (Some("br;level=5, gzip;q=0.9"), &[Brotli, Gzip]),
        ];
        for (accept, want) in cases {
            assert_eq!(prefer(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn q_values_follow_the_grammar() {
        for (text, q) in [
            ("1", Some(1000)),
            ("1.000", Some(1000)),
            ("0", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.", Some(0)),
            ("1.5", None),
            ("0.0001", None),
            ("-0", None),
            ("", None),
        ] {
            assert_eq!(parse_q(text), q, "{text:?}");
        }
    }
}
