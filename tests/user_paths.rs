//! What the examples and docs teach must compile in a user's crate, whose
//! only dependency is tramline: the `http` crate is `tramline::http` there,
//! so no example, README snippet or doc example names a bare `http::` path.

use std::path::{Path, PathBuf};

/// `http::` at the start of a path (not `tramline::http::`, and not inside
/// a word or a prose code span such as a link).
fn bare_http_paths(line: &str) -> bool {
    line.match_indices("http::").any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + "http::".len()..].chars().next();
        !matches!(before, Some(c) if c.is_alphanumeric() || matches!(c, '_' | ':' | '`' | '['))
            && after.is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    })
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

#[test]
fn examples_and_docs_use_tramline_http() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut check = |path: &Path, line_no: usize, line: &str| {
        if bare_http_paths(line) {
            found.push(format!(
                "{}:{}: {}",
                path.display(),
                line_no + 1,
                line.trim()
            ));
        }
    };
    // Examples: every line is code a user copies.
    let mut examples = Vec::new();
    files(&root.join("examples"), "rs", &mut examples);
    for path in &examples {
        for (n, line) in std::fs::read_to_string(path).unwrap().lines().enumerate() {
            check(path, n, line);
        }
    }
    // The crate's docs: the doc comments, whose code blocks are doctests.
    let mut sources = Vec::new();
    files(&root.join("src"), "rs", &mut sources);
    for path in &sources {
        for (n, line) in std::fs::read_to_string(path).unwrap().lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("///") || trimmed.starts_with("//!") {
                check(path, n, line);
            }
        }
    }
    // README and docs/: the Rust code blocks.
    let mut pages = vec![root.join("README.md")];
    files(&root.join("docs"), "md", &mut pages);
    for path in &pages {
        let mut in_rust = false;
        for (n, line) in std::fs::read_to_string(path).unwrap().lines().enumerate() {
            if let Some(fence) = line.trim_start().strip_prefix("```") {
                in_rust = !in_rust && fence.starts_with("rust");
                continue;
            }
            if in_rust {
                check(path, n, line);
            }
        }
    }
    assert!(
        found.is_empty(),
        "write tramline::http (a user's crate has no `http` of its own):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_a_bare_path_and_passes_the_others() {
    assert!(bare_http_paths("use http::StatusCode;"));
    assert!(bare_http_paths("[(http::header::LOCATION, v)]"));
    assert!(!bare_http_paths("use tramline::http::StatusCode;"));
    assert!(!bare_http_paths("see [`http::HeaderMap`]"));
    assert!(!bare_http_paths("systemfd -s http::3000"));
    assert!(!bare_http_paths("https::x or xhttp::y"));
}
