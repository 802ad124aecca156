//! No import cycle between the server crate's top-level modules.
//!
//! Reads every `src/**/*.rs`, and draws an edge A → B for each `crate::B…` path in module A (`use`
//! lines, `crate::{B, C}` groups, paths written inline, `super::B` from a top-level file, and a name
//! `lib.rs` re-exports, such as `crate::AppState`, counted as its module). A module naming itself or its
//! children does not count, nor does `super::` inside a child (that is its parent); comments and string
//! literals are skipped. The test fails naming every cycle it finds, with the line of each edge.
//!
//! Why it matters: a cycle ties every module on it together, so none of them can be read, tested or
//! moved alone (issue 20). The layout that keeps it so is in docs/ARCHITECTURE.md, "crates/server".

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A → B, with where A first names B (for the message).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

#[test]
fn server_modules_have_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &src, &mut files);
    assert!(
        files.len() > 10,
        "read only {} files under {}",
        files.len(),
        src.display()
    );
    let graph = graph(&files);
    assert!(
        graph.values().any(|edges| !edges.is_empty()),
        "no crate:: reference found at all: the scanner is broken"
    );
    let cycles = cycles(&graph);
    assert!(
        cycles.is_empty(),
        "import cycles between crates/server/src modules (break each by moving what both sides need \
         into a module of its own):\n{}",
        describe(&graph, &cycles)
    );
}

/// The check itself can fail: a cycle through `super::` and a `crate::{…}` group is found, while
/// comments, strings, children and `pub(super)` are not references.
#[test]
fn the_check_finds_a_cycle_and_ignores_what_is_not_a_reference() {
    let files = vec![
        ("lib.rs".to_owned(), "pub mod a;\npub mod b;\npub mod c;\npub use c::Thing;\n".to_owned()),
        (
            "a.rs".to_owned(),
            "use crate::{b::X, a::Y};\n// crate::c::Z is only a comment\nfn s() -> &'static str { \"crate::c\" }\npub(super) fn t(c: char) -> bool { c == '\"' }\nmod tests { use super::*; use crate::a::inner; }\n".to_owned(),
        ),
        ("b.rs".to_owned(), "fn f() { super::a::g(); let _ = crate::Thing; }\n".to_owned()),
        ("c.rs".to_owned(), "pub struct Thing;\n/* crate::a::g() */ const R: &str = r#\"crate::b\"#;\n".to_owned()),
        ("c/child.rs".to_owned(), "use super::Thing;\n".to_owned()),
    ];
    let graph = graph(&files);
    let edges = |m: &str| graph[m].keys().cloned().collect::<Vec<_>>();
    assert_eq!(edges("a"), ["b"]);
    assert_eq!(edges("b"), ["a", "c"]);
    assert!(edges("c").is_empty());
    let found = cycles(&graph);
    assert_eq!(
        found,
        [Cycle {
            path: vec!["a".into(), "b".into()],
            tied: vec!["a".into(), "b".into()],
        }]
    );
    let message = describe(&graph, &found);
    assert!(message.contains("a -> b -> a"), "{message}");
    assert!(message.contains("a.rs:1"), "{message}");
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            out.push((rel, text));
        }
    }
}

/// `a.rs` and `a/mod.rs` are module `a` at depth 1, `a/b.rs` is `a::b` at depth 2; `lib.rs` is the root.
fn module_of(rel: &str) -> Option<(String, usize)> {
    let parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
    match parts.as_slice() {
        ["lib"] | ["main"] => None,
        [top] => Some(((*top).to_owned(), 1)),
        [top, .., "mod"] => Some(((*top).to_owned(), parts.len() - 1)),
        [top, ..] => Some(((*top).to_owned(), parts.len())),
        [] => None,
    }
}

fn graph(files: &[(String, String)]) -> Graph {
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|(rel, _)| module_of(rel).map(|(m, _)| m))
        .collect();
    // Names lib.rs re-exports (`pub use worker::{Worker, WorkerError};`) stand for their module.
    let mut reexports = BTreeMap::new();
    if let Some((_, lib)) = files.iter().find(|(rel, _)| rel == "lib.rs") {
        let tokens = tokens(&strip(lib));
        for (i, t) in tokens.iter().enumerate() {
            if t.0 != Tok::Ident("use".into()) {
                continue;
            }
            let rest = &tokens[i + 1..];
            let rest = match rest.first() {
                Some((Tok::Ident(c), _)) if c == "crate" => &rest[2..],
                _ => rest,
            };
            let Some((Tok::Ident(module), _)) = rest.first().filter(|t| match &t.0 {
                Tok::Ident(m) => modules.contains(m),
                _ => false,
            }) else {
                continue;
            };
            let end = rest
                .iter()
                .position(|t| t.0 == Tok::Punct(';'))
                .map_or(rest.len(), |p| p + 1);
            for w in rest[..end].windows(2) {
                if let (Tok::Ident(name), Tok::Punct(',' | '}' | ';')) = (&w[0].0, &w[1].0) {
                    reexports.insert(name.clone(), module.clone());
                }
            }
        }
    }
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    for (rel, text) in files {
        let Some((from, depth)) = module_of(rel) else {
            continue;
        };
        for (name, line) in root_references(&tokens(&strip(text)), depth) {
            let to = if modules.contains(&name) {
                name
            } else if let Some(m) = reexports.get(&name) {
                m.clone()
            } else {
                continue;
            };
            if to != from {
                graph
                    .get_mut(&from)
                    .unwrap()
                    .entry(to)
                    .or_insert_with(|| format!("{rel}:{line}"));
            }
        }
    }
    graph
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
}

/// The code with comments and the insides of string and char literals blanked (newlines kept).
fn strip(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, s: &[char]| {
        for ch in s {
            out.push(if *ch == '\n' { '\n' } else { ' ' });
        }
    };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let prev_ident = i > 0 && ident(c[i - 1]);
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            let end = c[i..]
                .iter()
                .position(|ch| *ch == '\n')
                .map_or(c.len(), |p| i + p);
            blank(&mut out, &c[i..end]);
            i = end;
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let (mut j, mut depth) = (i + 2, 1);
            while j < c.len() && depth > 0 {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &c[i..j]);
            i = j;
        } else if !prev_ident && (c[i] == 'r' || (c[i] == 'b' && c.get(i + 1) == Some(&'r'))) && {
            let s = if c[i] == 'b' { i + 2 } else { i + 1 };
            let hashes = c[s..].iter().take_while(|ch| **ch == '#').count();
            c.get(s + hashes) == Some(&'"')
        } {
            // A raw string: r"…", r#"…"#, br#"…"#.
            let s = if c[i] == 'b' { i + 2 } else { i + 1 };
            let hashes = c[s..].iter().take_while(|ch| **ch == '#').count();
            let body = s + hashes + 1;
            let mut j = body;
            while j < c.len() {
                if c[j] == '"'
                    && c[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|ch| **ch == '#')
                        .count()
                        == hashes
                {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.extend(&c[i..body]);
            blank(&mut out, &c[body..j.min(c.len())]);
            i = j;
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            out.push('"');
            blank(&mut out, &c[i + 1..j.min(c.len())]);
            i = j + 1;
            if j < c.len() {
                out.push('"');
            }
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{..}'), or else a lifetime, left as it is.
            let end = if c.get(i + 1) == Some(&'\\') {
                c[i + 2..]
                    .iter()
                    .position(|ch| *ch == '\'')
                    .map(|p| i + 2 + p)
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.push('\'');
                    blank(&mut out, &c[i + 1..end]);
                    out.push('\'');
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(c[start..i].iter().collect()), line));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

/// The first segment of every path that starts at the crate root, with its line: `crate::x`,
/// `crate::{x, y::z}`, and `super::…::x` climbing from a module `depth` levels down (plus the inline
/// `mod m { … }` it sits in) up to the root exactly.
fn root_references(tokens: &[(Tok, usize)], depth: usize) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut braces = 0usize;
    let mut inline_mods: Vec<usize> = Vec::new();
    let ident = |i: usize| match tokens.get(i) {
        Some((Tok::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    };
    let sep = |i: usize| matches!(tokens.get(i), Some((Tok::PathSep, _)));
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].0 {
            Tok::Punct('{') => {
                braces += 1;
                if i >= 2 && ident(i - 2) == Some("mod") && ident(i - 1).is_some() {
                    inline_mods.push(braces);
                }
            }
            Tok::Punct('}') => {
                if inline_mods.last() == Some(&braces) {
                    inline_mods.pop();
                }
                braces = braces.saturating_sub(1);
            }
            Tok::Ident(word)
                if (word == "crate" || word == "super") && sep(i + 1) && !(i > 0 && sep(i - 1)) =>
            {
                let mut at = i;
                let climbs_to_root = if word == "crate" {
                    at += 2;
                    true
                } else {
                    let mut ups = 0;
                    while ident(at) == Some("super") && sep(at + 1) {
                        ups += 1;
                        at += 2;
                    }
                    depth + inline_mods.len() == ups
                };
                if climbs_to_root {
                    match &tokens.get(at).map(|t| &t.0) {
                        Some(Tok::Ident(name)) => out.push((name.clone(), tokens[at].1)),
                        Some(Tok::Punct('{')) => {
                            let mut level = 0;
                            let mut j = at;
                            while j < tokens.len() {
                                match tokens[j].0 {
                                    Tok::Punct('{') => level += 1,
                                    Tok::Punct('}') => {
                                        level -= 1;
                                        if level == 0 {
                                            break;
                                        }
                                    }
                                    _ => {}
                                }
                                if level == 1 && matches!(tokens[j].0, Tok::Punct('{' | ',')) {
                                    if let Some(name) = ident(j + 1).filter(|n| *n != "self") {
                                        out.push((name.to_owned(), tokens[j + 1].1));
                                    }
                                }
                                j += 1;
                            }
                        }
                        _ => {}
                    }
                }
                i = at;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// A shortest cycle through the smallest module of a strongly connected component, and all the
/// component's modules (every one of them reaches every other).
#[derive(Debug, PartialEq)]
struct Cycle {
    path: Vec<String>,
    tied: Vec<String>,
}

/// One cycle per strongly connected component of more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<Cycle> {
    struct Tarjan<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        components: Vec<BTreeSet<&'g str>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph[v].keys() {
                let w = w.as_str();
                if !self.graph.contains_key(w) {
                    continue;
                }
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.insert(w);
                    if w == v {
                        break;
                    }
                }
                self.components.push(component);
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    let mut found: Vec<Cycle> = t
        .components
        .iter()
        .filter(|c| c.len() > 1)
        .map(|component| {
            // The shortest way from the smallest module back to itself, inside the component.
            let start = *component.iter().next().unwrap();
            let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start]);
            let mut last = start;
            'search: while let Some(v) = queue.pop_front() {
                for w in graph[v].keys().map(String::as_str) {
                    if w == start {
                        last = v;
                        break 'search;
                    }
                    if component.contains(w) && !previous.contains_key(w) {
                        previous.insert(w, v);
                        queue.push_back(w);
                    }
                }
            }
            let mut path = vec![last.to_owned()];
            let mut at = last;
            while at != start {
                at = previous[at];
                path.push(at.to_owned());
            }
            path.reverse();
            Cycle {
                path,
                tied: component.iter().map(|m| (*m).to_owned()).collect(),
            }
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

fn describe(graph: &Graph, cycles: &[Cycle]) -> String {
    cycles
        .iter()
        .map(|cycle| {
            let mut names = cycle.path.clone();
            names.push(cycle.path[0].clone());
            let edges: Vec<String> = names
                .windows(2)
                .map(|w| format!("    {} -> {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
                .collect();
            format!(
                "  {}\n{}\n    (tied together: {})",
                names.join(" -> "),
                edges.join("\n"),
                cycle.tied.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
