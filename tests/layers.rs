//! The crate's top-level modules form a DAG (docs/architecture.md, "Module layers"):
//! every `crate::x` a file of module `m` names (in code or in a doc link) is an arrow
//! `m → x`; no arrow may lead back. `main.rs` is the binary and names the library as
//! `ledgerflow::`, so it is not part of the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The top-level module a file under `src/` belongs to (`src/run/load.rs` → `run`).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// The modules a source text names as `crate::x`, `crate::{x, y::z}` included.
fn named(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let body = &group[..group.find('}').unwrap_or(group.len())];
            // Top-level items of a group: split on commas outside nested braces.
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in body.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(body[start..i].trim()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            out.insert(ident(body[start..].trim()));
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

fn walk(dir: &Path, root: &Path, files: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read src")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, root, files);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(root).expect("under src");
            if rel == Path::new("main.rs") || rel == Path::new("lib.rs") {
                continue;
            }
            let m = module_of(rel).expect("module name");
            files.push((m, fs::read_to_string(&p).expect("read source")));
        }
    }
}

/// Arrows between distinct top-level modules, only to modules that exist.
fn graph(files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<&String> = files.iter().map(|(m, _)| m).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, text) in files {
        let to = g.entry(m.clone()).or_default();
        for x in named(text) {
            if &x != m && modules.contains(&x) {
                to.insert(x);
            }
        }
    }
    g
}

/// One cycle of `g` as a path `a → b → … → a`, if there is one.
fn a_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for next in g.get(n).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = path.iter().position(|p| p == next).unwrap_or(0);
                    let mut cycle = path[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, g, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, g, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_crate_modules_form_a_dag() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    let g = graph(&files);
    assert!(g.len() > 20, "{} modules found: {g:?}", g.len());
    // The arrows the architecture page draws, to make sure the scan sees them.
    for (from, to) in [("run", "engine"), ("cli", "run"), ("output", "store")] {
        assert!(
            g[from].contains(to),
            "{from} → {to} not seen: {:?}",
            g[from]
        );
    }
    if let Some(cycle) = a_cycle(&g) {
        panic!("import cycle between modules: {}", cycle.join(" → "));
    }
}

#[test]
fn a_cycle_is_found() {
    let files = vec![
        ("a".to_string(), "use crate::{b, c::d};".to_string()),
        ("b".to_string(), "/// see [`crate::a`]".to_string()),
        ("c".to_string(), String::new()),
    ];
    let g = graph(&files);
    assert_eq!(
        g["a"],
        BTreeSet::from(["b".to_string(), "c".to_string()]),
        "{g:?}"
    );
    assert_eq!(
        a_cycle(&g),
        Some(vec!["a".to_string(), "b".to_string(), "a".to_string()])
    );
}
