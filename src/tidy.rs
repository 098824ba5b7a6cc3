//! Tidy checks that run inside `cargo test`: the import directions of
//! `src/` (rust-analyzer keeps such checks in its test suite too). They are
//! the guard that keeps the layering of ARCHITECTURE.md standing.
//!
//! The import graph is read like `shared/tools/import-cycles` reads it:
//! the `use` paths and qualified paths from the crate root in each file's
//! non-test code (its text up to the first `#[cfg(test)]`; files named
//! `tests.rs` are skipped), comments included, grouped by top-level module.
//!
//! 1. Between top-level modules there is no cycle, and every arrow points
//!    down [`TIERS`].
//! 2. Inside one module, its files (not counting `mod.rs`, which declares
//!    them) form no cycle either. Here whole-line comments are skipped: doc
//!    links to a sibling are not dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Allowed import directions, top to bottom: a module may name only
/// modules of a lower tier, never one of its own tier or above. `main.rs`
/// (which names `cli` only) and `lib.rs` (which declares everything) are
/// not in the graph.
const TIERS: &[&[&str]] = &[
    &["cli"],
    &["daemon"],
    &["web"],
    &["ops", "status"],
    &["app"],
    &["engine", "alert", "report", "roster", "sim"],
    &["wire", "config"],
    &["sites", "fetch", "store"],
    &["audit", "telemetry", "systemd"],
    &["domain"],
];

/// Test-only top-level modules: not part of the layering.
const TEST_ONLY: &[&str] = &["tidy"];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A file's non-test code: its text up to the first `#[cfg(test)]`.
fn non_test_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match text.find("#[cfg(test)]") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_lowercase() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The lowercase identifier at the start of `s` (after whitespace).
fn leading_ident(s: &str) -> Option<&str> {
    let s = s.trim_start();
    let b = s.as_bytes();
    if !b.first().copied().is_some_and(is_ident_start) {
        return None;
    }
    let end = b.iter().position(|c| !is_ident(*c)).unwrap_or(b.len());
    Some(&s[..end])
}

/// Every `<prefix><ident>` in `text` where `prefix` starts a word
/// (`\bprefix([a-z_][a-z0-9_]*)`).
fn qualified(text: &str, prefix: &str) -> BTreeSet<String> {
    let b = text.as_bytes();
    let mut out = BTreeSet::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(prefix).map(|i| i + from) {
        from = i + prefix.len();
        if i > 0 && is_word(b[i - 1]) {
            continue;
        }
        if let Some(id) = leading_ident(&text[from..]).filter(|_| {
            // No whitespace between the path separator and the name.
            b.get(from).copied().is_some_and(is_ident_start)
        }) {
            out.insert(id.to_string());
        }
    }
    out
}

/// The first names of `use <root>{a, b::{..}, c};` groups
/// (`use\s+<root>\{([^;]*)\};`, split on commas).
fn grouped(text: &str, root: &str) -> BTreeSet<String> {
    let b = text.as_bytes();
    let mut out = BTreeSet::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("use").map(|i| i + from) {
        from = i + 3;
        let ws = b[from..]
            .iter()
            .take_while(|c| c.is_ascii_whitespace())
            .count();
        if ws == 0 {
            continue;
        }
        let open = from + ws;
        let Some(rest) = text[open..].strip_prefix(root) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('{') else {
            continue;
        };
        let start = text.len() - rest.len();
        let Some(semi) = rest.find(';').map(|s| s + start) else {
            continue;
        };
        if semi == start || b[semi - 1] != b'}' {
            continue;
        }
        for part in text[start..semi - 1].split(',') {
            if let Some(id) = leading_ident(part) {
                out.insert(id.to_string());
            }
        }
        from = semi + 1;
    }
    out
}

/// The top-level module a file of `src/` belongs to (`None`: `lib.rs`,
/// `main.rs`, a `tests.rs`, or a test-only module).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy());
    let first = parts.next()?.into_owned();
    let top = if rel.components().count() == 1 {
        first.strip_suffix(".rs")?.to_string()
    } else {
        first
    };
    let skip = ["lib", "main"].contains(&top.as_str())
        || TEST_ONLY.contains(&top.as_str())
        || file.file_name().is_some_and(|n| n == "tests.rs");
    (!skip).then_some(top)
}

/// Top-level module → the top-level modules it names.
fn top_level_graph() -> Graph {
    let src = src();
    let mut modules = BTreeSet::new();
    for e in std::fs::read_dir(&src).into_iter().flatten().flatten() {
        let p = e.path();
        let name = if p.is_dir() {
            e.file_name().to_string_lossy().into_owned()
        } else if p.extension().is_some_and(|x| x == "rs") {
            p.file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        } else {
            continue;
        };
        if !["lib", "main"].contains(&name.as_str()) && !TEST_ONLY.contains(&name.as_str()) {
            modules.insert(name);
        }
    }
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let root = ["crate", "::"].concat();
    for f in files {
        let Some(top) = top_module(&src, &f) else {
            continue;
        };
        let text = non_test_text(&f);
        let mut named = qualified(&text, &root);
        named.extend(grouped(&text, &root));
        for m in named {
            if modules.contains(&m) && m != top {
                graph.entry(top.clone()).or_default().insert(m);
            }
        }
    }
    graph
}

/// The strongly connected components of more than one node (Tarjan).
fn cycles(graph: &Graph) -> Vec<BTreeSet<String>> {
    struct Walk<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<BTreeSet<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    comp.insert(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    self.found.push(comp);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

fn tier(module: &str) -> Option<usize> {
    TIERS.iter().position(|t| t.contains(&module))
}

fn arrows(graph: &Graph, within: &BTreeSet<String>) -> String {
    graph
        .iter()
        .filter(|(a, _)| within.contains(*a))
        .flat_map(|(a, bs)| {
            bs.iter()
                .filter(|b| within.contains(*b))
                .map(move |b| format!("{a} -> {b}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = top_level_graph();
    assert!(graph.len() > 10, "src/ not found: {graph:?}");
    let found = cycles(&graph);
    let described: Vec<String> = found.iter().map(|c| arrows(&graph, c)).collect();
    assert!(
        found.is_empty(),
        "import cycles between top-level modules: {described:#?}"
    );
}

#[test]
fn every_import_points_down_the_table() {
    let graph = top_level_graph();
    let unplaced: Vec<&String> = graph.keys().filter(|m| tier(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "modules missing from TIERS (place them, and in ARCHITECTURE.md): {unplaced:?}"
    );
    let mut wrong = Vec::new();
    for (a, bs) in &graph {
        for b in bs {
            if tier(a) >= tier(b) {
                wrong.push(format!("{a} -> {b}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports the table forbids (a module names only lower tiers): {wrong:?}"
    );
}

/// Sibling file → the siblings it names, for each directory module.
fn file_graphs() -> BTreeMap<String, Graph> {
    let src = src();
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(&src).into_iter().flatten().flatten() {
        let dir = e.path();
        if !dir.is_dir() {
            continue;
        }
        let top = e.file_name().to_string_lossy().into_owned();
        let mut files = BTreeMap::new();
        for f in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = f.path();
            let stem = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if p.is_file() && p.extension().is_some_and(|x| x == "rs") {
                if stem != "mod" && stem != "tests" {
                    files.insert(stem, p);
                }
            } else if p.join("mod.rs").is_file() {
                files.insert(stem, p.join("mod.rs"));
            }
        }
        let own = ["crate", "::", &top, "::"].concat();
        let mut graph: Graph = files.keys().map(|k| (k.clone(), BTreeSet::new())).collect();
        for (name, path) in &files {
            let text: String = non_test_text(path)
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let mut named = qualified(&text, "super::");
            named.extend(qualified(&text, &own));
            named.extend(grouped(&text, "super::"));
            for m in named {
                if files.contains_key(&m) && m != *name {
                    graph.entry(name.clone()).or_default().insert(m);
                }
            }
        }
        out.insert(top, graph);
    }
    out
}

#[test]
fn files_of_one_module_form_no_cycle() {
    let mut failures = Vec::new();
    for (module, graph) in file_graphs() {
        for c in cycles(&graph) {
            failures.push(format!("{module}: {}", arrows(&graph, &c)));
        }
    }
    assert!(
        failures.is_empty(),
        "import cycles between the files of one module: {failures:#?}"
    );
}

#[test]
fn the_reader_sees_what_the_tool_sees() {
    let root = ["crate", "::"].concat();
    let text = format!(
        "use {root}{{a::{{B, c}}, d}};\nuse {root}e::F;\n// `{root}g` in a comment\nx{root}h\n"
    );
    let mut named = qualified(&text, &root);
    named.extend(grouped(&text, &root));
    let got: Vec<&str> = named.iter().map(String::as_str).collect();
    // `c` sits inside a nested group, which the tool's comma split also
    // reads; `h` is not at a word start.
    assert_eq!(got, ["a", "c", "d", "e", "g"]);
    let graph: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .iter()
        .fold(Graph::new(), |mut g, (x, y)| {
            g.entry((*x).into()).or_default().insert((*y).into());
            g.entry((*y).into()).or_default();
            g
        });
    let found = cycles(&graph);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].iter().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
}
