//! The module-cycle rule: inside a crate, sibling modules form a DAG.
//!
//! The graph is read from the source text, not from the compiler: every
//! `use` path and every path that starts with `crate::`, `super::` or
//! `self::` is resolved through the module tree (`mod` declarations, file
//! or inline) and through `use` bindings (so `crate::Error`, re-exported
//! from `crate::error`, counts as a use of `error`). A reference from
//! module A to module T is an edge between the two children of their
//! nearest common ancestor that hold A and T; a module using its own
//! ancestor or descendant is no edge (a child using `super::` is the
//! normal shape). A cycle is a strongly connected set of siblings.
//!
//! Limits, by design: names brought in by a glob (`use x::*`) count as a
//! use of `x` only; macros and `#[path]` are not followed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module: its absolute path in the crate (`[]` is the root).
type ModPath = Vec<String>;

#[derive(Debug, Default)]
struct Module {
    /// The file that holds it (relative to the workspace root).
    file: String,
    children: BTreeSet<String>,
    /// `use` bindings: name -> the path it stands for.
    bindings: BTreeMap<String, Vec<String>>,
    /// Paths referenced here, with their line.
    refs: Vec<(Vec<String>, usize)>,
}

/// One crate's modules.
#[derive(Debug, Default)]
pub struct Crate {
    /// The root file, relative to the workspace root.
    pub root: String,
    modules: BTreeMap<ModPath, Module>,
}

/// A cycle among the children of one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The crate's root file.
    pub krate: String,
    /// The common parent, `crate::a::b` style.
    pub parent: String,
    /// The sibling modules in the cycle.
    pub members: Vec<String>,
    /// One reference per edge of the cycle: "from -> to (file:line)".
    pub edges: Vec<String>,
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: in {}, modules {{{}}} use each other: {}",
            self.krate,
            self.parent,
            self.members.join(", "),
            self.edges.join("; ")
        )
    }
}

/// Blanks out comments, string and char literals (keeping line breaks),
/// so that only code is scanned.
pub fn strip(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    while i < c.len() {
        if ch(&c, i) == '/' && ch(&c, i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch(&c, i) == '/' && ch(&c, i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && ch(&c, i + 1) == '*' {
                    depth += 1;
                    i += 2;
                    out.push_str("  ");
                } else if c[i] == '*' && ch(&c, i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    out.push_str("  ");
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if (ch(&c, i) == 'r' || (ch(&c, i) == 'b' && ch(&c, i + 1) == 'r'))
            && !prev_ident(&c, i)
            && raw_start(&c, i + usize::from(ch(&c, i) == 'b')).is_some()
        {
            let start = i + usize::from(ch(&c, i) == 'b');
            let hashes = raw_start(&c, start).unwrap_or(0);
            i = start + 2 + hashes;
            out.push(' ');
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if ch(&c, i) == '"' {
            i += 1;
            out.push(' ');
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            i += 1;
            out.push(' ');
        } else if ch(&c, i) == '\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if ch(&c, i + 1) == '\\' {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(' ');
            } else if ch(&c, i + 2) == '\'' {
                i += 3;
                out.push(' ');
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn ch(c: &[char], i: usize) -> char {
    c.get(i).copied().unwrap_or('\0')
}

fn prev_ident(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

/// At `r"` or `r#..#"`: the number of hashes.
fn raw_start(c: &[char], i: usize) -> Option<usize> {
    if c.get(i) != Some(&'r') {
        return None;
    }
    let mut k = i + 1;
    while c.get(k) == Some(&'#') {
        k += 1;
    }
    (c.get(k) == Some(&'"')).then_some(k - i - 1)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Path,
    Punct(char),
}

fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
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
            let word: String = c[start..i].iter().collect();
            let word = word.strip_prefix("r#").map(str::to_string).unwrap_or(word);
            out.push((Tok::Ident(word), line));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

/// Parses a use tree at `toks[*i]`, appending (path, binding) pairs
/// (binding None for a glob). Stops after the tree.
fn use_tree(
    toks: &[(Tok, usize)],
    i: &mut usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix.to_vec();
    loop {
        match toks.get(*i).map(|t| &t.0) {
            Some(Tok::Ident(w)) => {
                path.push(w.clone());
                *i += 1;
                if toks.get(*i).map(|t| &t.0) == Some(&Tok::Path) {
                    *i += 1;
                    continue;
                }
                // End of a simple path: `as` rename or not.
                let mut name = path.last().cloned();
                if name.as_deref() == Some("self") {
                    path.pop();
                    name = path.last().cloned();
                }
                if let Some(Tok::Ident(a)) = toks.get(*i).map(|t| &t.0) {
                    if a == "as" {
                        *i += 1;
                        if let Some(Tok::Ident(n)) = toks.get(*i).map(|t| &t.0) {
                            name = Some(n.clone());
                            *i += 1;
                        }
                    }
                }
                out.push((path, name.filter(|n| n != "_")));
                return;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push((path, None));
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                loop {
                    match toks.get(*i).map(|t| &t.0) {
                        Some(Tok::Punct('}')) | None => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Punct(',')) => *i += 1,
                        _ => use_tree(toks, i, &path, out),
                    }
                }
            }
            Some(Tok::Path) => *i += 1, // a leading `::`
            _ => return,
        }
    }
}

/// The file of module `name` declared in `file` (a crate root or `mod.rs`
/// holds its children beside it; `a.rs` holds them in `a/`).
fn child_file(root: &Path, file: &str, inline: &[String], name: &str) -> Option<String> {
    let path = Path::new(file);
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    let mut dir = path.parent()?.to_path_buf();
    if !matches!(stem.as_str(), "lib" | "main" | "mod") {
        dir.push(stem);
    }
    for m in inline {
        dir.push(m);
    }
    [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ]
    .into_iter()
    .map(|p| p.to_string_lossy().replace('\\', "/"))
    .find(|p| root.join(p).is_file())
}

impl Crate {
    /// Reads the crate whose root file is `root_file` (relative to `root`).
    pub fn read(root: &Path, root_file: &str) -> Crate {
        let mut krate = Crate {
            root: root_file.to_string(),
            modules: BTreeMap::new(),
        };
        krate.read_file(root, root_file, Vec::new());
        krate
    }

    fn read_file(&mut self, root: &Path, file: &str, at: ModPath) {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            return;
        };
        let toks = tokens(&strip(&text));
        // (module path, brace depth at which it closes, inline names).
        let mut stack: Vec<(ModPath, usize, Vec<String>)> = vec![(at.clone(), 0, Vec::new())];
        self.modules.entry(at).or_default().file = file.to_string();
        let mut depth = 0usize;
        let mut i = 0;
        let mut pending_files = Vec::new();
        while i < toks.len() {
            let (cur, _, inline) = stack.last().cloned().unwrap_or_default();
            match &toks[i].0 {
                Tok::Punct('{') => {
                    depth += 1;
                    i += 1;
                }
                Tok::Punct('}') => {
                    if stack.len() > 1 && stack.last().map(|s| s.1) == Some(depth) {
                        stack.pop();
                    }
                    depth = depth.saturating_sub(1);
                    i += 1;
                }
                Tok::Ident(w) if w == "mod" => {
                    let Some((Tok::Ident(name), _)) = toks.get(i + 1) else {
                        i += 1;
                        continue;
                    };
                    let name = name.clone();
                    let mut child = cur.clone();
                    child.push(name.clone());
                    self.modules
                        .entry(cur.clone())
                        .or_default()
                        .children
                        .insert(name.clone());
                    match toks.get(i + 2).map(|t| &t.0) {
                        Some(Tok::Punct(';')) => {
                            if let Some(f) = child_file(root, file, &inline, &name) {
                                pending_files.push((f, child));
                            }
                            i += 3;
                        }
                        Some(Tok::Punct('{')) => {
                            depth += 1;
                            let mut inner = inline.clone();
                            inner.push(name);
                            self.modules.entry(child.clone()).or_default().file = file.to_string();
                            stack.push((child, depth, inner));
                            i += 3;
                        }
                        _ => i += 1,
                    }
                }
                Tok::Ident(w) if w == "use" => {
                    let line = toks[i].1;
                    i += 1;
                    let mut trees = Vec::new();
                    use_tree(&toks, &mut i, &[], &mut trees);
                    let module = self.modules.entry(cur.clone()).or_default();
                    for (path, binding) in trees {
                        if let Some(name) = binding {
                            module.bindings.insert(name, path.clone());
                        }
                        module.refs.push((path, line));
                    }
                }
                Tok::Ident(w) if matches!(w.as_str(), "crate" | "super" | "self") => {
                    let line = toks[i].1;
                    let mut path = vec![w.clone()];
                    let mut k = i + 1;
                    while toks.get(k).map(|t| &t.0) == Some(&Tok::Path) {
                        match toks.get(k + 1).map(|t| &t.0) {
                            Some(Tok::Ident(seg)) => {
                                path.push(seg.clone());
                                k += 2;
                            }
                            _ => break,
                        }
                    }
                    // `pub(crate)`, `pub(super)`, a lone `self`: no path.
                    if path.len() > 1 {
                        self.modules.entry(cur).or_default().refs.push((path, line));
                    }
                    i = k.max(i + 1);
                }
                _ => i += 1,
            }
        }
        for (f, child) in pending_files {
            self.read_file(root, &f, child);
        }
    }

    /// The module a path used in module `from` leads to (its deepest
    /// module), or None for another crate's path.
    fn resolve(&self, from: &ModPath, path: &[String], depth: usize) -> Option<ModPath> {
        if depth > 16 || path.is_empty() {
            return None;
        }
        let mut at: ModPath;
        let mut rest = path;
        match path[0].as_str() {
            "crate" => {
                at = Vec::new();
                rest = &path[1..];
            }
            "self" => {
                at = from.clone();
                rest = &path[1..];
            }
            "super" => {
                at = from.clone();
                while rest.first().map(String::as_str) == Some("super") {
                    at.pop();
                    rest = &rest[1..];
                }
            }
            first => {
                let m = self.modules.get(from)?;
                if m.children.contains(first) {
                    at = from.clone();
                } else if let Some(b) = m.bindings.get(first) {
                    if b.as_slice() == path {
                        return None;
                    }
                    let mut whole = b.clone();
                    whole.extend_from_slice(&path[1..]);
                    return self.resolve(from, &whole, depth + 1);
                } else {
                    return None; // another crate, or a prelude name
                }
            }
        }
        for (k, seg) in rest.iter().enumerate() {
            let Some(m) = self.modules.get(&at) else {
                return Some(at);
            };
            if m.children.contains(seg) {
                at.push(seg.clone());
            } else if let Some(b) = m.bindings.get(seg) {
                let mut whole = b.clone();
                whole.extend_from_slice(&rest[k + 1..]);
                let here = at.clone();
                return self.resolve(&here, &whole, depth + 1).or(Some(here));
            } else {
                return Some(at);
            }
        }
        Some(at)
    }

    /// Sibling edges: parent -> (from child, to child) -> an example site.
    fn edges(&self) -> BTreeMap<ModPath, BTreeMap<(String, String), String>> {
        let mut out: BTreeMap<ModPath, BTreeMap<(String, String), String>> = BTreeMap::new();
        for (from, module) in &self.modules {
            for (path, line) in &module.refs {
                let Some(to) = self.resolve(from, path, 0) else {
                    continue;
                };
                let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
                if common == from.len() || common == to.len() {
                    continue; // the same module, an ancestor or a descendant
                }
                let parent = from[..common].to_vec();
                let key = (from[common].clone(), to[common].clone());
                out.entry(parent)
                    .or_default()
                    .entry(key)
                    .or_insert_with(|| {
                        format!(
                            "{} -> {} ({}:{line})",
                            show(from),
                            path.join("::"),
                            module.file
                        )
                    });
            }
        }
        out
    }

    /// Every cycle among siblings.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut out = Vec::new();
        for (parent, edges) in self.edges() {
            let nodes: BTreeSet<&String> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
            for scc in sccs(&nodes, &edges) {
                if scc.len() < 2 {
                    continue;
                }
                let members: Vec<String> = scc.iter().map(|s| s.to_string()).collect();
                let sites = edges
                    .iter()
                    .filter(|((a, b), _)| scc.contains(a) && scc.contains(b))
                    .map(|(_, site)| site.clone())
                    .collect();
                out.push(Cycle {
                    krate: self.root.clone(),
                    parent: show(&parent),
                    members,
                    edges: sites,
                });
            }
        }
        out
    }
}

fn show(m: &ModPath) -> String {
    std::iter::once("crate")
        .chain(m.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("::")
}

/// Strongly connected components (Tarjan), each sorted.
fn sccs<'a>(
    nodes: &BTreeSet<&'a String>,
    edges: &BTreeMap<(String, String), String>,
) -> Vec<BTreeSet<&'a String>> {
    struct State<'a> {
        index: BTreeMap<&'a String, usize>,
        low: BTreeMap<&'a String, usize>,
        stack: Vec<&'a String>,
        on: BTreeSet<&'a String>,
        out: Vec<BTreeSet<&'a String>>,
        next: usize,
    }
    fn visit<'a>(
        v: &'a String,
        nodes: &BTreeSet<&'a String>,
        edges: &BTreeMap<(String, String), String>,
        s: &mut State<'a>,
    ) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        for w in nodes
            .iter()
            .copied()
            .filter(|w| edges.contains_key(&(v.clone(), (*w).clone())))
        {
            if !s.index.contains_key(w) {
                visit(w, nodes, edges, s);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.insert(w);
                if w == v {
                    break;
                }
            }
            s.out.push(comp);
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
        next: 0,
    };
    for v in nodes.iter().copied() {
        if !s.index.contains_key(v) {
            visit(v, nodes, edges, &mut s);
        }
    }
    s.out
}

/// The root files of every crate of the workspace at `root`: each
/// package's `src/lib.rs` and `src/main.rs`.
pub fn crate_roots(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join("Cargo.toml").is_file() {
            for f in ["src/lib.rs", "src/main.rs"] {
                if dir.join(f).is_file() {
                    if let Ok(rel) = dir.join(f).strip_prefix(root) {
                        out.push(rel.to_string_lossy().replace('\\', "/"));
                    }
                }
            }
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() && !name.starts_with('.') && name != "target" && name != "src" {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().expect("a parent")).expect("dirs");
            std::fs::write(p, text).expect("write");
        }
    }

    #[test]
    fn comments_strings_and_chars_are_blanked_and_lifetimes_kept() {
        let s =
            strip("a // crate::x\n\"crate::y\" r#\"crate::z\"# '\\'' 'c' &'a b /* crate::w */ c");
        assert!(!s.contains("crate"), "{s}");
        assert!(s.contains("&'a b"), "{s}");
        assert_eq!(s.lines().count(), 2);
    }

    #[test]
    fn a_cycle_between_siblings_is_found_through_reexports_and_super() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(
            dir.path(),
            &[
                ("src/lib.rs", "mod a;\nmod b;\nmod c;\npub use b::Thing;\n"),
                ("src/a.rs", "use crate::Thing;\nfn f() {}\n"),
                ("src/b/mod.rs", "mod inner;\npub struct Thing;\n"),
                ("src/b/inner.rs", "fn g() { super::super::a::f(); }\n"),
                (
                    "src/c.rs",
                    "use crate::a;\n#[cfg(test)]\nmod tests { use super::*; }\n",
                ),
            ],
        );
        let krate = Crate::read(dir.path(), "src/lib.rs");
        let cycles = krate.cycles();
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert_eq!(cycles[0].parent, "crate");
        assert_eq!(cycles[0].members, ["a", "b"]);
        assert_eq!(cycles[0].edges.len(), 2, "{cycles:?}");
    }

    #[test]
    fn a_child_using_its_parent_is_no_cycle() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(
            dir.path(),
            &[
                ("src/lib.rs", "mod a;\npub use a::x::X;\nfn top() {}\n"),
                ("src/a/mod.rs", "pub mod x;\nuse self::x::X;\n"),
                (
                    "src/a/x.rs",
                    "use crate::top;\nuse super::*;\npub struct X;\n",
                ),
            ],
        );
        assert!(Crate::read(dir.path(), "src/lib.rs").cycles().is_empty());
    }
}
