//! The module layering of ARCHITECTURE.md ("Layers"), checked on the real `src/` tree: the
//! graph of top-level modules has no cycle, the store and the leaves import only leaves, and
//! the pure parts (`term`, `front::telnet`, the command parser) name no I/O.
//!
//! The graph is read from the source text of non-test code: every `crate::x` path, `use`
//! trees (`crate::{a, b::c}`) expanded, and `super::` chains that climb to the crate root.
//! Comments and string literals are blanked first, and `#[cfg(test)]` items, `tests.rs` files
//! and `tests/` directories are left out, since tests may use anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The modules at the bottom: each imports only other leaves (or nothing of the crate).
const LEAVES: &[&str] = &[
    "address",
    "config",
    "diag",
    "log_limit",
    "metrics",
    "panic_log",
    "password",
    "rate",
    "term",
    "text",
];

/// Paths that do I/O, or reach shared state that does: the pure parts name none of them.
const IO_PATHS: &[&str] = &[
    "std::io",
    "std::fs",
    "std::net",
    "std::process",
    "tokio",
    "crate::store",
    "crate::world",
];

#[test]
fn no_cycles_among_top_level_modules() {
    let graph = module_graph(&source_root());
    let found: Vec<String> = cycles(&graph)
        .iter()
        .map(|cycle| describe_cycle(&graph, cycle))
        .collect();
    assert!(found.is_empty(), "module cycles:\n{}", found.join("\n"));
}

#[test]
fn the_store_and_the_leaves_import_only_leaves() {
    let graph = module_graph(&source_root());
    assert!(graph.contains_key("store"), "{:?}", graph.keys());
    let mut wrong = Vec::new();
    for module in LEAVES.iter().chain(["store"].iter()) {
        let Some(imports) = graph.get(*module) else {
            wrong.push(format!("{module}: no such module"));
            continue;
        };
        for imported in imports {
            if !LEAVES.contains(&imported.as_str()) {
                wrong.push(format!("{module} imports {imported}, which is not a leaf"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_pure_parts_do_no_io() {
    let root = source_root();
    let mut files = rust_files(&root.join("term"));
    files.push(root.join("front/telnet.rs"));
    files.push(root.join("command/parse.rs"));
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        for path in paths(&strip_tests(&blank_comments_and_strings(&text))) {
            if let Some(io) = IO_PATHS.iter().find(|io| starts_with_path(&path, io)) {
                found.push(format!("{}: {path} ({io})", file.display()));
            }
        }
    }
    assert!(files.len() > 3, "{files:?}");
    assert!(found.is_empty(), "I/O in pure code:\n{}", found.join("\n"));
}

/// The checker itself: it finds imports in every form the source uses, and none in
/// comments, strings or test code.
#[test]
fn the_checker_reads_paths_as_the_compiler_does() {
    let code = r##"
        //! Mentions crate::world in a comment.
        use crate::{config::Config, text::{self, Span}};
        use std::{fs, io::Write};
        /* crate::store /* nested */ crate::server */
        fn f() -> &'static str { let _ = crate::metrics::x(); let c = '"'; "crate::front" }
        fn g() { let _ = r#"crate::bridge "quoted""#; let _ = b'\''; super::rate::now(); }
        #[cfg(test)]
        mod tests { use crate::session; }
        #[cfg(test)]
        fn helper() { crate::migrate::run(); }
        #[cfg(test)]
        mod more;
        fn h<'a>(x: &'a str) -> tokio::task::JoinHandle<()> { crate::diag::log(x) }
    "##;
    let cleaned = strip_tests(&blank_comments_and_strings(code));
    let found = paths(&cleaned);
    let crate_modules: BTreeSet<&str> = found
        .iter()
        .filter_map(|path| path.strip_prefix("crate::"))
        .map(|rest| rest.split("::").next().unwrap_or(rest))
        .collect();
    assert_eq!(
        crate_modules,
        BTreeSet::from(["config", "diag", "metrics", "text"]),
        "{found:?}"
    );
    for expected in [
        "std::fs",
        "std::io::Write",
        "tokio::task::JoinHandle",
        "super::rate::now",
    ] {
        assert!(
            found.iter().any(|path| path == expected),
            "{expected} in {found:?}"
        );
    }
    assert_eq!(
        top_level_imports(&cleaned, 1),
        BTreeSet::from(["config", "diag", "metrics", "rate", "text"].map(String::from))
    );
}

/// A graph with a cycle is caught and the cycle named.
#[test]
fn a_cycle_is_found_and_named() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a", "d"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(module, imports)| {
        (
            module.to_owned(),
            imports.into_iter().map(String::from).collect(),
        )
    })
    .collect();
    let found = cycles(&graph);
    assert_eq!(found, vec![vec!["a", "b", "c"]]);
    assert_eq!(describe_cycle(&graph, &found[0]), "a -> b -> c -> a");
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir` that is not test code.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read a source directory")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "tests" {
                files.extend(rust_files(&path));
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            files.push(path);
        }
    }
    files
}

/// Top-level module -> the top-level modules its non-test code names.
fn module_graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(root) {
        let relative = file.strip_prefix(root).expect("under src");
        let parts: Vec<String> = relative
            .iter()
            .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        // The crate roots: `lib.rs` only declares the modules, `main.rs` uses the library
        // from outside (`r0c::`).
        if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
            continue;
        }
        let module = parts[0].clone();
        // How deep the file's module is: `src/a.rs` and `src/a/mod.rs` are `a` (1),
        // `src/a/b.rs` is `a::b` (2).
        let depth = parts.len() - usize::from(parts.last().is_some_and(|p| p == "mod"));
        let text = std::fs::read_to_string(&file).expect("read a source file");
        let imports = top_level_imports(&strip_tests(&blank_comments_and_strings(&text)), depth);
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(imports.into_iter().filter(|imported| *imported != module));
    }
    graph
}

/// The top-level modules that code at module depth `depth` names.
fn top_level_imports(code: &str, depth: usize) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for path in paths(code) {
        let segments: Vec<&str> = path.split("::").collect();
        let supers = segments.iter().take_while(|s| **s == "super").count();
        let first = if segments[0] == "crate" {
            segments.get(1)
        } else if supers > 0 && supers == depth {
            segments.get(supers)
        } else {
            None
        };
        if let Some(module) = first.filter(|m| !["self", "super", "*"].contains(m)) {
            found.insert((*module).to_owned());
        }
    }
    found
}

/// Whether `path` is `prefix` or lies under it, segment by segment.
fn starts_with_path(path: &str, prefix: &str) -> bool {
    path == prefix || path.starts_with(&format!("{prefix}::"))
}

/// The strongly connected groups of more than one module, each sorted, in sorted order.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(module) = stack.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                if next == to {
                    return true;
                }
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        false
    };
    let mut groups: Vec<Vec<String>> = Vec::new();
    for module in graph.keys() {
        if groups.iter().any(|group| group.contains(module)) {
            continue;
        }
        let group: Vec<String> = graph
            .keys()
            .filter(|other| *other == module || (reaches(module, other) && reaches(other, module)))
            .cloned()
            .collect();
        if group.len() > 1 {
            groups.push(group);
        }
    }
    groups
}

/// One cycle through the modules of `group`, as `a -> b -> a`.
fn describe_cycle(graph: &BTreeMap<String, BTreeSet<String>>, group: &[String]) -> String {
    // Breadth-first from the first module back to itself, inside the group.
    let start = &group[0];
    let mut previous: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut end = None;
    'search: while let Some(module) = queue.pop_front() {
        for next in graph.get(module).into_iter().flatten() {
            if !group.contains(next) {
                continue;
            }
            if next == start {
                end = Some(module);
                break 'search;
            }
            if !previous.contains_key(next) {
                previous.insert(next, module);
                queue.push_back(next);
            }
        }
    }
    let mut path = vec![start.clone()];
    let mut at = end;
    while let Some(module) = at.filter(|m| *m != start) {
        path.push(module.clone());
        at = previous.get(module).copied();
    }
    path.push(start.clone());
    let last = path.len() - 1;
    path[1..last].reverse();
    let cycle = path.join(" -> ");
    if path.len() - 1 == group.len() {
        return cycle;
    }
    // A larger group has more cycles: list every import inside it.
    let imports: Vec<String> = group
        .iter()
        .map(|module| {
            let inside: Vec<&str> = graph
                .get(module)
                .into_iter()
                .flatten()
                .filter(|imported| group.contains(imported))
                .map(String::as_str)
                .collect();
            format!("{module} -> {}", inside.join(", "))
        })
        .collect();
    format!("{cycle}, among {}", imports.join("; "))
}

/// `code` with comments and the contents of string and character literals replaced by
/// spaces (line breaks kept), so that only code is left to read paths from.
fn blank_comments_and_strings(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            // r"..." or r#"..."# (or br...): ends at a quote followed by as many hashes.
            let open = chars[i..].iter().position(|&c| c == '"').unwrap_or(0) + i;
            for _ in i..=open {
                out.push(' ');
            }
            i = open + 1;
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += 1 + hashes;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The number of `#` of a raw string literal starting at `i`, if one does.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let before = i.checked_sub(1).map(|b| chars[b]);
    if before.is_some_and(|b| b.is_alphanumeric() || b == '_') {
        return None;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some(hashes)
}

/// Whether the quote at `i` opens a character literal rather than naming a lifetime.
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

/// `code` (already blanked) without the items marked `#[cfg(test)]`.
fn strip_tests(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let item = &rest[at + MARK.len()..];
        // The item ends at its first `;` outside any brackets (`[u8; 4]` is not an end), or
        // at the brace closing its body.
        let mut depth = 0usize;
        let mut brackets = 0usize;
        let mut end = item.len();
        for (index, c) in item.char_indices() {
            match c {
                '(' | '[' => brackets += 1,
                ')' | ']' => brackets = brackets.saturating_sub(1),
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = index + 1;
                        break;
                    }
                }
                ';' if depth == 0 && brackets == 0 => {
                    end = index + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Every path in `code` with at least two segments (`a::b`), `use` trees expanded:
/// `std::{fs, io::Write}` gives `std::fs` and `std::io::Write`.
fn paths(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_ident = (chars[i].is_alphabetic() || chars[i] == '_')
            && !i
                .checked_sub(1)
                .is_some_and(|b| chars[b].is_alphanumeric() || chars[b] == '_' || chars[b] == ':');
        if starts_ident {
            let (path, end) = path_at(&chars, i, String::new(), &mut found);
            if path.contains("::") {
                found.push(path);
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

/// Reads the path starting at `i` (after `prefix`); a group `::{...}` adds each of its
/// paths to `found`. Returns the path read (when it ends without a group) and where it ends.
fn path_at(
    chars: &[char],
    mut i: usize,
    prefix: String,
    found: &mut Vec<String>,
) -> (String, usize) {
    let mut path = prefix;
    loop {
        let start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '*')
        {
            i += 1;
        }
        path.extend(&chars[start..i]);
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') {
            j += 2;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if chars.get(j) == Some(&'{') {
                return (String::new(), group_at(chars, j + 1, &path, found));
            }
            if chars
                .get(j)
                .is_some_and(|c| c.is_alphabetic() || *c == '_' || *c == '*')
            {
                path.push_str("::");
                i = j;
                continue;
            }
        }
        return (path, i);
    }
}

/// Reads a `use` group after its `{`, adding `prefix::member` for each member; returns
/// where the group ends.
fn group_at(chars: &[char], mut i: usize, prefix: &str, found: &mut Vec<String>) -> usize {
    while i < chars.len() {
        let c = chars[i];
        if c == '}' {
            return i + 1;
        }
        if c.is_alphabetic() || c == '_' || c == '*' {
            let (path, end) = path_at(chars, i, format!("{prefix}::"), found);
            if !path.is_empty() {
                found.push(path.trim_end_matches("::self").to_owned());
            }
            i = end;
            // Skip `as alias`.
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if chars[j..].starts_with(&['a', 's', ' ']) {
                j += 3;
                while j < chars.len()
                    && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == ' ')
                {
                    j += 1;
                }
                i = j;
            }
        } else {
            i += 1;
        }
    }
    i
}
