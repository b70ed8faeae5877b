//! From a request path to a path under the served directory: the one
//! place that decides which paths may reach the file system.

use std::fmt;
use std::path::{Component, PathBuf};

/// A request path that passed [`resolve`]: relative, made only of plain
/// file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SafePath {
    /// INVARIANT: every component is `Component::Normal`, none holds `/`,
    /// `\`, `:` or NUL, and none is `.` or `..`; empty for the root.
    pub(crate) relative: PathBuf,
    /// The request path ended in `/` (it names a directory).
    pub(crate) trailing_slash: bool,
}

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `%` not followed by two hex digits.
    PercentEncoding,
    /// The decoded path is not UTF-8.
    Utf8,
    /// A `..` segment.
    DotDot,
    /// A NUL byte.
    Nul,
    /// A backslash: a separator on Windows.
    Backslash,
    /// A `:`: a drive prefix (`C:`) or an alternate data stream on Windows.
    Colon,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PercentEncoding => "invalid percent-encoding in path",
            Self::Utf8 => "path is not valid UTF-8 once percent-decoded",
            Self::DotDot => "path must not contain `..` segments",
            Self::Nul => "path must not contain NUL",
            Self::Backslash => "path must not contain backslashes",
            Self::Colon => "path must not contain `:`",
        })
    }
}

/// Decodes the percent-encoding of a request path, once.
pub(crate) fn decode(encoded: &str) -> Result<String, Refused> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(Refused::PercentEncoding);
            };
            // Two hex digits make at most 0xff.
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Refused::Utf8)
}

/// Checks an already decoded path (e.g. from [`Path`](crate::extract::Path))
/// and turns it into a relative file path.
///
/// `/` separates segments; empty and `.` segments are dropped, so the
/// result never starts at a root, whatever leading slashes the input has.
pub(crate) fn check(decoded: &str) -> Result<SafePath, Refused> {
    let mut relative = PathBuf::new();
    for segment in decoded.split('/') {
        // Refused before anything else: on Windows each of these changes
        // what the segments mean (`a\..\..`, `C:`, `file::$DATA`), and NUL
        // truncates the path in C APIs.
        if segment.contains('\0') {
            return Err(Refused::Nul);
        }
        if segment.contains('\\') {
            return Err(Refused::Backslash);
        }
        if segment.contains(':') {
            return Err(Refused::Colon);
        }
        match segment {
            "" | "." => {}
            ".." => return Err(Refused::DotDot),
            name => relative.push(name),
        }
    }
    // Belt and braces: the rules above leave only plain names, whatever the
    // platform's path syntax.
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(Refused::DotDot);
    }
    Ok(SafePath {
        relative,
        trailing_slash: decoded.ends_with('/'),
    })
}

/// Decodes `encoded` (a request path, still percent-encoded) once and
/// checks it: the path every request to a `ServeDir` goes through.
pub(crate) fn resolve(encoded: &str) -> Result<SafePath, Refused> {
    check(&decode(encoded)?)
}

/// Asserts what [`resolve`] promises for any input: it never panics, and
/// what it accepts stays under any root. The property tests and the fuzz
/// target `serve_dir_path` both run it.
#[cfg(any(test, feature = "__fuzz"))]
pub(crate) fn assert_invariants(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    for result in [resolve(text), check(text)] {
        let Ok(safe) = result else { continue };
        let root = std::path::Path::new("/srv/root");
        let joined = root.join(&safe.relative);
        assert!(
            joined.starts_with(root),
            "{text:?} leaves the root: {joined:?}"
        );
        for component in safe.relative.components() {
            let Component::Normal(name) = component else {
                panic!("{text:?} gave a non-plain component {component:?}");
            };
            let name = name.to_str().expect("names come from UTF-8");
            assert!(
                !name.is_empty() && name != "." && name != "..",
                "{text:?} gave {name:?}"
            );
            assert!(
                !name.contains(['/', '\\', ':', '\0']),
                "{text:?} gave {name:?}"
            );
        }
        // Lexically, joining never climbs: no component can go up.
        assert!(
            joined.components().count() == root.components().count() + safe.relative.iter().count()
        );
    }
    // Decoding happens once: an encoded `%` stays a `%`.
    if let Ok(decoded) = decode(text) {
        if text.contains("%25") {
            assert!(
                decoded.contains('%'),
                "{text:?} decoded twice to {decoded:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_plain_paths() {
        let cases = [
            ("/", "", true),
            ("", "", false),
            ("/index.html", "index.html", false),
            ("/a/b/c.txt", "a/b/c.txt", false),
            ("/a/", "a", true),
            ("//a//b", "a/b", false),
            ("/./a/./b", "a/b", false),
            ("/%61%62c", "abc", false),
            ("/caf%C3%A9.txt", "café.txt", false),
            ("/a%2Fb", "a/b", false),
            ("/...", "...", false),
            ("/..a/b..", "..a/b..", false),
            ("/100%25.txt", "100%.txt", false),
            ("/a b+c", "a b+c", false),
        ];
        for (input, relative, trailing_slash) in cases {
            assert_eq!(
                resolve(input),
                Ok(SafePath {
                    relative: PathBuf::from(relative),
                    trailing_slash,
                }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn refuses_traversal_and_platform_tricks() {
        let cases = [
            ("/..", Refused::DotDot),
            ("/../etc/passwd", Refused::DotDot),
            ("/a/../../b", Refused::DotDot),
            ("/a/..", Refused::DotDot),
            ("/%2e%2e/x", Refused::DotDot),
            ("/%2E%2E", Refused::DotDot),
            ("/.%2e/x", Refused::DotDot),
            ("/a%2F..%2Fb", Refused::DotDot),
            ("/a\\..\\b", Refused::Backslash),
            ("/a%5c..%5cb", Refused::Backslash),
            ("/a%00.txt", Refused::Nul),
            ("/C:/Windows", Refused::Colon),
            ("/c%3A", Refused::Colon),
            ("/file.txt::$DATA", Refused::Colon),
            ("/%zz", Refused::PercentEncoding),
            ("/%4", Refused::PercentEncoding),
            ("/%", Refused::PercentEncoding),
            ("/%ff", Refused::Utf8),
            ("/%C3%28", Refused::Utf8),
        ];
        for (input, refused) in cases {
            assert_eq!(resolve(input), Err(refused), "{input:?}");
        }
        // Encoded once, decoded once: `%252e%252e` is the file `%2e%2e`.
        assert_eq!(
            resolve("/%252e%252e").unwrap().relative,
            PathBuf::from("%2e%2e")
        );
    }

    /// Path-shaped input: pieces that hit the check's interesting cases.
    fn path_pieces() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "/",
            "//",
            ".",
            "..",
            "%2e",
            "%2E",
            "%2f",
            "%2F",
            "%5c",
            "\\",
            "%00",
            "%",
            "%2",
            "%25",
            "a",
            "index.html",
            ":",
            "C:",
            "%3a",
            "%c3%a9",
            "%ff",
            "é",
            " ",
            "~",
        ]);
        prop::collection::vec(pieces, 0..16).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn path_pieces_never_leave_the_root(input in path_pieces()) {
            assert_invariants(input.as_bytes());
        }

        #[test]
        fn arbitrary_strings_never_leave_the_root(input in any::<String>()) {
            assert_invariants(input.as_bytes());
        }

        #[test]
        fn accepted_paths_hold_no_dot_dot(input in path_pieces()) {
            if let Ok(safe) = resolve(&input) {
                let decoded = decode(&input).unwrap();
                prop_assert!(!decoded.split('/').any(|s| s == ".."));
                prop_assert!(!safe.relative.to_string_lossy().split('/').any(|s| s == ".."));
            }
        }
    }
}
