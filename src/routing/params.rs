//! The matched route's path parameters, as the router leaves them in the
//! request's extensions for [`Path`](crate::extract::Path).

use std::fmt;
use std::sync::Arc;

/// Parameters kept inline before spilling to the heap; most routes have few.
const INLINE: usize = 4;

/// The percent-decoded parameters of the matched route.
///
/// All values live in one `String`, so a match costs one allocation for the
/// values whatever their number; the names are shared with the route.
#[derive(Clone)]
pub(crate) struct PathParams {
    /// The route's parameter names in path order.
    names: Arc<[Box<str>]>,
    /// The decoded values, or the first value that failed to decode.
    values: Result<Values, Invalid>,
}

#[derive(Clone)]
struct Values {
    /// Every decoded value, concatenated in path order.
    buf: String,
    /// INVARIANT: holds `names.len()` end offsets into `buf`, the first
    /// `INLINE` in `inline`, the rest in `spill`; offsets never decrease.
    inline: [usize; INLINE],
    spill: Vec<usize>,
}

/// The first parameter whose value did not decode.
#[derive(Clone, Copy, Debug)]
struct Invalid {
    index: usize,
    /// `false`: bad percent-encoding; `true`: decoded bytes are not UTF-8.
    utf8: bool,
}

impl PathParams {
    /// Decodes the values of a match; `names` are the route's parameter names
    /// as [`param_names`] found them, in the order matchit yields values.
    pub(crate) fn new(names: &Arc<[Box<str>]>, params: &matchit::Params<'_, '_>) -> Self {
        debug_assert_eq!(names.len(), params.len());
        let total = params.iter().map(|(_, v)| v.len()).sum();
        let mut values = Values {
            buf: String::with_capacity(total),
            inline: [0; INLINE],
            spill: Vec::new(),
        };
        for (index, (key, raw)) in params.iter().enumerate() {
            debug_assert_eq!(&*names[index], key);
            if let Err(utf8) = decode_into(raw, &mut values.buf) {
                return Self {
                    names: Arc::clone(names),
                    values: Err(Invalid { index, utf8 }),
                };
            }
            let end = values.buf.len();
            match values.inline.get_mut(index) {
                Some(slot) => *slot = end,
                None => values.spill.push(end),
            }
        }
        Self {
            names: Arc::clone(names),
            values: Ok(values),
        }
    }

    /// Returns the decoded parameters, or the name of the first one that
    /// did not decode and whether its problem was UTF-8 (else the escape).
    pub(crate) fn view(&self) -> Result<ParamsView<'_>, (&str, bool)> {
        match &self.values {
            Ok(values) => Ok(ParamsView {
                names: &self.names,
                values: Some(values),
            }),
            Err(invalid) => Err((&self.names[invalid.index], invalid.utf8)),
        }
    }
}

impl fmt::Debug for PathParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.view() {
            Ok(view) => f
                .debug_map()
                .entries((0..view.len()).map(|i| view.get(i)))
                .finish(),
            Err((name, _)) => f.debug_tuple("PathParams").field(&name).finish(),
        }
    }
}

/// A borrowed list of `(name, decoded value)` pairs.
#[derive(Clone, Copy)]
pub(crate) struct ParamsView<'a> {
    names: &'a [Box<str>],
    values: Option<&'a Values>,
}

impl<'a> ParamsView<'a> {
    /// The view of a route without parameters.
    pub(crate) const EMPTY: Self = Self {
        names: &[],
        values: None,
    };

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Returns the `i`th parameter's name and value.
    ///
    /// # Panics
    ///
    /// Panics if `i >= self.len()`.
    pub(crate) fn get(&self, i: usize) -> (&'a str, &'a str) {
        let values = self.values.expect("a view with names has values");
        let end_at = |i: usize| match values.inline.get(i) {
            Some(end) => *end,
            None => values.spill[i - INLINE],
        };
        let start = if i == 0 { 0 } else { end_at(i - 1) };
        (&self.names[i], &values.buf[start..end_at(i)])
    }
}

/// Appends the percent-decoded `raw` to `buf`.
///
/// Unlike `percent_encoding`'s lenient decoder, a `%` not followed by two
/// hex digits is an error: the client sent something it did not mean.
/// Returns `Err(false)` for a bad escape, `Err(true)` for bytes that are not
/// UTF-8 once decoded.
fn decode_into(raw: &str, buf: &mut String) -> Result<(), bool> {
    if !raw.contains('%') {
        buf.push_str(raw);
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = |i: usize| tail.get(i).and_then(|c| (*c as char).to_digit(16));
            let (Some(hi), Some(lo)) = (hex(0), hex(1)) else {
                return Err(false);
            };
            bytes.push((hi * 16 + lo) as u8);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let decoded = String::from_utf8(bytes).map_err(|_| true)?;
    buf.push_str(&decoded);
    Ok(())
}

/// Returns the parameter names of a route pattern in path order:
/// `{id}` gives `id`, `{*rest}` gives `rest`; `{{` and `}}` are literal braces.
///
/// The pattern must already have been accepted by matchit.
pub(crate) fn param_names(pattern: &str) -> Arc<[Box<str>]> {
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(i) = rest.find(['{', '}']) {
        let after = &rest[i + 1..];
        if after.starts_with(&rest[i..=i]) {
            // An escaped `{{` or `}}`.
            rest = &after[1..];
            continue;
        }
        let end = after.find('}').unwrap_or(after.len());
        names.push(after[..end].trim_start_matches('*').into());
        rest = after.get(end + 1..).unwrap_or("");
    }
    names.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(pattern: &str, path: &str) -> PathParams {
        let mut router = matchit::Router::new();
        router.insert(pattern, ()).unwrap();
        let m = router.at(path).unwrap();
        PathParams::new(&param_names(pattern), &m.params)
    }

    fn pairs(params: &PathParams) -> Vec<(String, String)> {
        let view = params.view().unwrap();
        (0..view.len())
            .map(|i| view.get(i))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn param_names_follow_the_pattern() {
        let cases: [(&str, &[&str]); 6] = [
            ("/", &[]),
            ("/users/{id}", &["id"]),
            ("/{a}/x/{b}", &["a", "b"]),
            ("/files/{*path}", &["path"]),
            ("/lit/{{x}}/{y}", &["y"]),
            ("/img-{id}.png", &["id"]),
        ];
        for (pattern, want) in cases {
            let names = param_names(pattern);
            let got: Vec<&str> = names.iter().map(|s| &**s).collect();
            assert_eq!(got, want, "{pattern}");
        }
    }

    #[test]
    fn values_are_percent_decoded_in_order() {
        let params = matched("/{a}/{b}/{*c}", "/x%20y/%E2%9C%93/d%2Fe/f");
        assert_eq!(
            pairs(&params),
            [("a", "x y"), ("b", "✓"), ("c", "d/e/f")].map(|(k, v)| (k.into(), v.into()))
        );
    }

    #[test]
    fn values_past_the_inline_capacity_spill() {
        let params = matched("/{a}/{b}/{c}/{d}/{e}/{f}", "/1/22/333/4/55/6");
        let values: Vec<String> = pairs(&params).into_iter().map(|(_, v)| v).collect();
        assert_eq!(values, ["1", "22", "333", "4", "55", "6"]);
    }

    #[test]
    fn bad_escapes_and_bad_utf8_name_the_parameter() {
        let cases = [
            ("/a/%zz", false),
            ("/a/%4", false),
            ("/a/x%", false),
            ("/a/%ff", true),
            ("/a/%C3%28", true),
        ];
        for (path, utf8) in cases {
            let params = matched("/{first}/{second}", path);
            assert_eq!(params.view().err(), Some(("second", utf8)), "{path}");
        }
    }

    #[test]
    fn plain_values_copy_unchanged() {
        let mut buf = String::new();
        for raw in ["abc", "a+b", "", "ünï"] {
            buf.clear();
            decode_into(raw, &mut buf).unwrap();
            assert_eq!(buf, raw);
        }
    }
}
