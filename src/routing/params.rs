//! The matched route's path parameters, as the router leaves them in the
//! request's extensions for [`Path`](crate::extract::Path).

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use http::{Extensions, Uri};

/// Parameters kept inline before spilling to the heap; most routes have few.
const INLINE: usize = 4;

/// The most entries an extensions map may hold when it is emptied for
/// reuse; a bigger one may have grown a big table, and is freed instead.
const RECYCLE_MAX: usize = 8;

thread_local! {
    /// An extensions map kept for the next request whose route has
    /// parameters: empty but for a blank [`PathParams`] whose box the next
    /// parameters are moved into. Storing them in a request that has no
    /// extensions yet would otherwise cost three allocations (the map, its
    /// table, the boxed value) and three frees per request, about 550
    /// instructions of the path-parameter benchmark's 1,000 over plaintext.
    /// Filled by [`recycle`] once the extractors are done.
    static SPARE: Cell<Option<Extensions>> = const { Cell::new(None) };
}

/// The percent-decoded parameters of the matched route.
///
/// While no value has an escape (the usual case), the values are slices of
/// the request's path, held through a clone of its `Uri`, which shares the
/// path's buffer rather than copying it; a match then allocates nothing.
/// The names are shared with the route.
#[derive(Clone)]
pub(crate) struct PathParams {
    /// The route's parameter names.
    names: Arc<Names>,
    /// The values, or the first value that failed to decode.
    values: Result<Values, Invalid>,
}

#[derive(Clone)]
struct Values {
    text: Text,
    /// INVARIANT: holds `names.list.len()` byte ranges of `text`, the first
    /// `INLINE` in `inline`, the rest in `spill`.
    inline: [Span; INLINE],
    spill: Vec<Span>,
}

/// The byte range of one value in [`Text`].
type Span = (usize, usize);

/// What the spans of [`Values`] index.
#[derive(Clone)]
enum Text {
    /// The matched URI, whose path holds every value as it is.
    Path(Uri),
    /// Every value decoded, concatenated in path order.
    Decoded(String),
}

impl Text {
    fn as_str(&self) -> &str {
        match self {
            Self::Path(uri) => uri.path(),
            Self::Decoded(buf) => buf,
        }
    }
}

/// The first parameter whose value did not decode.
#[derive(Clone, Copy, Debug)]
struct Invalid {
    index: usize,
    /// `false`: bad percent-encoding; `true`: decoded bytes are not UTF-8.
    utf8: bool,
}

impl Values {
    fn new(text: Text) -> Self {
        Self {
            text,
            inline: [(0, 0); INLINE],
            spill: Vec::new(),
        }
    }

    fn push(&mut self, index: usize, span: Span) {
        match self.inline.get_mut(index) {
            Some(slot) => *slot = span,
            None => self.spill.push(span),
        }
    }

    fn span(&self, index: usize) -> Span {
        match self.inline.get(index) {
            Some(span) => *span,
            None => self.spill[index - INLINE],
        }
    }
}

impl PathParams {
    /// Takes the values of a match of `uri`'s path; `names` are the route's
    /// parameter names as [`param_names`] found them, in the order matchit
    /// yields values.
    pub(crate) fn new(names: &Arc<Names>, params: &matchit::Params<'_, '_>, uri: &Uri) -> Self {
        debug_assert_eq!(names.list.len(), params.len());
        let path = uri.path();
        // Where `raw` is in `path`, if it is a slice of it (matchit hands
        // out slices of the path it was given) and needs no decoding.
        let locate = |raw: &str| {
            let start = raw.as_ptr().addr().wrapping_sub(path.as_ptr().addr());
            let end = start.wrapping_add(raw.len());
            let in_path = path.get(start..end).is_some_and(|s| std::ptr::eq(s, raw));
            (in_path && !raw.as_bytes().contains(&b'%')).then_some((start, end))
        };
        let mut inline = [(0, 0); INLINE];
        let mut spill = Vec::new();
        if let Some(start) = names.tail {
            // The value is the rest of the path: asking matchit for it would
            // check it (and its name) for UTF-8 again, about 150
            // instructions.
            let raw = path.get(start..).unwrap_or_default();
            debug_assert_eq!(params.iter().next().map(|(_, v)| v), Some(raw));
            if raw.is_empty() || raw.as_bytes().contains(&b'%') {
                return Self::decoded(names, params);
            }
            inline[0] = (start, path.len());
        } else if let [name] = &*names.list {
            // Looking one parameter up by name checks only the value for
            // UTF-8, iterating checks the name too. Names may repeat, so
            // not for more.
            match params.get(name).and_then(locate) {
                Some(span) => inline[0] = span,
                None => return Self::decoded(names, params),
            }
        } else {
            // `take`: a last call of `next` would check UTF-8 for nothing.
            for (index, (key, raw)) in params.iter().take(names.list.len()).enumerate() {
                debug_assert_eq!(&*names.list[index], key);
                let Some(span) = locate(raw) else {
                    return Self::decoded(names, params);
                };
                match inline.get_mut(index) {
                    Some(slot) => *slot = span,
                    None => spill.push(span),
                }
            }
        }
        let values = Values {
            text: Text::Path(uri.clone()),
            inline,
            spill,
        };
        Self {
            names: Arc::clone(names),
            values: Ok(values),
        }
    }

    /// Like [`new`](Self::new), for a match with an escaped value (or one
    /// that is not a slice of the path): decodes every value into one
    /// string.
    #[cold]
    fn decoded(names: &Arc<Names>, params: &matchit::Params<'_, '_>) -> Self {
        let total = params.iter().map(|(_, v)| v.len()).sum();
        let mut values = Values::new(Text::Decoded(String::with_capacity(total)));
        let Text::Decoded(buf) = &mut values.text else {
            unreachable!("made decoded just above")
        };
        let mut spans = Vec::with_capacity(params.len());
        for (index, (_, raw)) in params.iter().enumerate() {
            let start = buf.len();
            if let Err(utf8) = decode_into(raw, buf) {
                return Self {
                    names: Arc::clone(names),
                    values: Err(Invalid { index, utf8 }),
                };
            }
            spans.push((start, buf.len()));
        }
        for (index, span) in spans.into_iter().enumerate() {
            values.push(index, span);
        }
        Self {
            names: Arc::clone(names),
            values: Ok(values),
        }
    }

    /// The matched route's pattern, as registered.
    pub(crate) fn pattern(&self) -> &str {
        self.names.pattern()
    }

    /// Stores the parameters in `extensions`, reusing the map of an
    /// earlier request (see [`recycle`]) if `extensions` has none yet.
    #[inline]
    pub(crate) fn insert_into(self, extensions: &mut Extensions) {
        if extensions.is_empty() {
            // `try_with`: a thread being torn down just allocates.
            if let Some(spare) = SPARE.try_with(Cell::take).ok().flatten() {
                *extensions = spare;
            }
        }
        match extensions.get_mut::<Self>() {
            Some(blank) => *blank = self,
            None => {
                extensions.insert(self);
            }
        }
    }

    /// Drops what the parameters hold of their request (its path's buffer
    /// above all), keeping the allocation they sit in. The route's names
    /// stay shared until the next parameters replace them: a few bytes,
    /// where a fresh empty list would cost an allocation.
    fn blank(&mut self) {
        self.values = Err(Invalid {
            index: 0,
            utf8: false,
        });
    }

    /// Returns the decoded parameters, or the name of the first one that
    /// did not decode and whether its problem was UTF-8 (else the escape).
    pub(crate) fn view(&self) -> Result<ParamsView<'_>, (&str, bool)> {
        match &self.values {
            Ok(values) => Ok(ParamsView {
                names: &self.names.list,
                values: Some(values),
            }),
            Err(invalid) => Err((&self.names.list[invalid.index], invalid.utf8)),
        }
    }
}

/// Empties `extensions`, a request's that the extractors are done with,
/// and keeps its map for the next request's [`PathParams`].
///
/// Dropping the values happens here rather than when the request would
/// have been dropped; nothing of one request reaches the next: what stays
/// is a map holding at most a blank `PathParams`, which
/// [`PathParams::insert_into`] overwrites before anyone can see it.
pub(crate) fn recycle(mut extensions: Extensions) {
    let len = extensions.len();
    // An empty one may have no map at all; a big one is not worth keeping.
    if len == 0 || len > RECYCLE_MAX {
        return;
    }
    match extensions.get_mut::<PathParams>() {
        Some(params) if len == 1 => params.blank(),
        _ => extensions.clear(),
    }
    // Replaces (and frees) any map already kept.
    let _ = SPARE.try_with(|spare| spare.set(Some(extensions)));
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
    #[inline]
    pub(crate) fn get(&self, i: usize) -> (&'a str, &'a str) {
        let values = self.values.expect("a view with names has values");
        let (start, end) = values.span(i);
        (&self.names[i], &values.text.as_str()[start..end])
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

/// A route's parameter names, worked out once from its pattern.
pub(crate) struct Names {
    /// The route as registered (`MatchedPath`).
    pattern: Box<str>,
    escapes: bool,
    /// In path order.
    list: Box<[Box<str>]>,
    /// Where the value starts in every path the route matches, if the
    /// pattern is a static prefix and then its only parameter
    /// (`/users/{id}`, `/files/{*path}`): the value is the rest of the path.
    tail: Option<usize>,
}

impl Names {
    /// The route as registered.
    pub(crate) fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern escapes a brace (`{{` or `}}`), so a path it
    /// matches is not the pattern itself.
    pub(crate) fn has_escapes(&self) -> bool {
        self.escapes
    }
}

/// Returns the parameter names of a route pattern in path order:
/// `{id}` gives `id`, `{*rest}` gives `rest`; `{{` and `}}` are literal braces.
///
/// The pattern must already have been accepted by matchit.
pub(crate) fn param_names(pattern: &str) -> Arc<Names> {
    let mut list = Vec::new();
    let mut rest = pattern;
    while let Some(i) = rest.find(['{', '}']) {
        let after = &rest[i + 1..];
        if after.starts_with(&rest[i..=i]) {
            // An escaped `{{` or `}}`.
            rest = &after[1..];
            continue;
        }
        let end = after.find('}').unwrap_or(after.len());
        list.push(after[..end].trim_start_matches('*').into());
        rest = after.get(end + 1..).unwrap_or("");
    }
    Arc::new(Names {
        pattern: pattern.into(),
        escapes: pattern.contains("{{") || pattern.contains("}}"),
        tail: tail_start(pattern).filter(|_| list.len() == 1),
        list: list.into(),
    })
}

/// Returns where the one parameter of `pattern` starts, if nothing but
/// literal characters comes before it (no escaped brace, whose two
/// characters match one) and nothing after it.
fn tail_start(pattern: &str) -> Option<usize> {
    let start = pattern.find(['{', '}'])?;
    let name_end = pattern[start + 1..].find(['{', '}'])? + start + 1;
    let literal = pattern.as_bytes()[start] == b'{' && pattern.as_bytes()[name_end] == b'}';
    (literal && name_end == pattern.len() - 1 && name_end > start + 1).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(pattern: &str, path: &str) -> PathParams {
        let mut router = matchit::Router::new();
        router.insert(pattern, ()).unwrap();
        let uri: Uri = path.parse().unwrap();
        let m = router.at(uri.path()).unwrap();
        PathParams::new(&param_names(pattern), &m.params, &uri)
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
            let got: Vec<&str> = names.list.iter().map(|s| &**s).collect();
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
    fn a_trailing_parameter_is_found_by_the_pattern_alone() {
        let cases = [
            ("/users/{id}", Some(7)),
            ("/files/{*path}", Some(7)),
            ("/{id}", Some(1)),
            ("/img-{id}.png", None),
            ("/{a}/{b}", None),
            ("/lit/{{x}}/{y}", None),
            ("/lit}}/{y}", None),
            ("/static", None),
        ];
        for (pattern, want) in cases {
            assert_eq!(param_names(pattern).tail, want, "{pattern}");
        }
        let cases = [
            ("/users/{id}", "/users/42", "42"),
            ("/files/{*path}", "/files/a/b.txt?x=1", "a/b.txt"),
            ("/files/{*path}", "/files/a%20b", "a b"),
        ];
        for (pattern, path, want) in cases {
            let params = matched(pattern, path);
            assert_eq!(pairs(&params)[0].1, want, "{pattern} {path}");
        }
    }

    #[test]
    fn repeated_names_keep_each_value() {
        let params = matched("/{a}/x/{a}", "/1/x/2");
        assert_eq!(
            pairs(&params),
            [("a", "1"), ("a", "2")].map(|(k, v)| (k.into(), v.into()))
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
    fn plain_values_borrow_the_path_and_escaped_ones_decode() {
        let params = matched("/{a}/x/{b}", "/one/x/two?q=1");
        assert!(matches!(&params.values, Ok(v) if matches!(v.text, Text::Path(_))));
        let params = matched("/{a}/x/{b}", "/one/x/t%77o");
        assert!(matches!(&params.values, Ok(v) if matches!(v.text, Text::Decoded(_))));
        assert_eq!(pairs(&params)[1], ("b".into(), "two".into()));
    }

    #[test]
    fn values_from_another_string_than_the_uri_are_copied() {
        let mut router = matchit::Router::new();
        router.insert("/{a}/{b}", ()).unwrap();
        let uri: Uri = "/elsewhere".parse().unwrap();
        let path = String::from("/1/2");
        let m = router.at(&path).unwrap();
        let params = PathParams::new(&param_names("/{a}/{b}"), &m.params, &uri);
        let values: Vec<String> = pairs(&params).into_iter().map(|(_, v)| v).collect();
        assert_eq!(values, ["1", "2"]);
    }

    #[test]
    fn recycled_extensions_hold_only_the_next_params() {
        // A map with more than the parameters is emptied; one with only
        // them keeps their box, blanked.
        let mut with_more = Extensions::new();
        with_more.insert(7u8);
        with_more.insert(matched("/{a}", "/b"));
        let mut params_only = Extensions::new();
        params_only.insert(matched("/{a}/{b}", "/x/y"));
        for used in [with_more, params_only] {
            recycle(used);
            let mut next = Extensions::new();
            matched("/{c}", "/d").insert_into(&mut next);
            assert_eq!(next.len(), 1);
            assert!(next.get::<u8>().is_none());
            let view = next.get::<PathParams>().unwrap().view().unwrap();
            assert_eq!((view.len(), view.get(0)), (1, ("c", "d")));
        }
        // The next request that has extensions of its own keeps them.
        let mut own = Extensions::new();
        own.insert(1u16);
        matched("/{e}", "/f").insert_into(&mut own);
        assert_eq!((own.len(), own.get::<u16>()), (2, Some(&1)));
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
