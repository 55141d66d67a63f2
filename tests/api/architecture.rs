//! The crate's top-level modules depend on each other one way: no cycle.
//!
//! Reads `src/`: a module `a` depends on `b` when code in `a` (outside its tests) names
//! `crate::b`. The layers this keeps are drawn in docs/ARCHITECTURE.md; a change that makes two
//! modules need each other fails here, naming the cycle, and so does a change of dependencies
//! the document's module tables do not draw.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

/// Top-level module name -> the top-level modules its non-test code names.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = fs::read_dir(src)
        .expect("src")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let module = name.strip_suffix(".rs").unwrap_or(&name).to_owned();
            (module != "lib" && module != "main").then_some(module)
        })
        .collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for module in &modules {
        let mut files = Vec::new();
        collect_files(&src.join(module), &mut files);
        collect_files(&src.join(format!("{module}.rs")), &mut files);
        let named = deps.entry(module.clone()).or_default();
        for file in files {
            let text = fs::read_to_string(&file).expect("source");
            for other in named_modules(&non_test_code(&text), &modules) {
                if &other != module {
                    named.insert(other);
                }
            }
        }
    }
    deps
}

/// The `.rs` files at `path` (a file, or a directory walked whole), without `tests.rs` files.
fn collect_files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in fs::read_dir(path).expect("dir").filter_map(Result::ok) {
            collect_files(&entry.path(), out);
        }
    } else if path.is_file()
        && path.extension().is_some_and(|e| e == "rs")
        && path.file_name().is_some_and(|n| n != "tests.rs")
    {
        out.push(path.to_owned());
    }
}

/// The code before a file's `#[cfg(test)]` module, without comments.
fn non_test_code(text: &str) -> String {
    let code = text
        .find("#[cfg(test)]\nmod tests {")
        .map_or(text, |at| &text[..at]);
    code.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` names, as `crate::m` or inside `use crate::{m::..., ...}`.
fn named_modules(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::X, b::{Y, Z}, c}`: the names at the group's top level.
            let mut depth = 0;
            let mut word = String::new();
            let mut at_top_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => at_top_start = true,
                    c if c.is_alphanumeric() || c == '_' => {
                        if at_top_start && depth == 0 {
                            word.push(c);
                        }
                    }
                    _ => {
                        if !word.is_empty() {
                            if modules.contains(&word) {
                                named.insert(std::mem::take(&mut word));
                            }
                            word.clear();
                            at_top_start = false;
                        }
                    }
                }
            }
            if modules.contains(&word) {
                named.insert(word);
            }
        } else {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&word) {
                named.insert(word);
            }
        }
    }
    named
}

/// A cycle through `deps`, if there is one, as the modules along it.
fn find_cycle(deps: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in deps.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(next, deps, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    deps.keys()
        .find_map(|m| visit(m, deps, &mut Vec::new(), &mut done))
}

#[test]
fn the_top_level_modules_depend_on_each_other_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let deps = dependencies(&src);
    assert!(deps.len() > 10, "read the modules of src/: {deps:?}");
    // The checker sees the edges it must: a known one-way dependency is found.
    assert!(deps["routes"].contains("hub"), "{:?}", deps["routes"]);
    if let Some(cycle) = find_cycle(&deps) {
        panic!(
            "the modules depend on each other in a cycle: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    deps.entry("a".into()).or_default().insert("b".into());
    deps.entry("b".into()).or_default().insert("c".into());
    deps.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&deps),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    deps.get_mut("c").map(BTreeSet::clear);
    assert_eq!(find_cycle(&deps), None);
}

#[test]
fn names_in_a_use_group_are_read_at_its_top_level_only() {
    let modules: BTreeSet<String> = ["hub", "event", "sse"].map(String::from).into();
    let named = named_modules(
        "use crate::{hub::{Push, event}, event::UserId};\nlet x = crate::sse::frame();",
        &modules,
    );
    assert_eq!(named, ["event", "hub", "sse"].map(String::from).into());
}

/// The backticked names in a cell of a markdown table, outside parentheses: `` `a`, `b` (`X`) ``
/// gives a and b.
fn cell_names(cell: &str) -> BTreeSet<String> {
    let mut depth = 0;
    let mut outside = String::new();
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    outside
        .split(',')
        .map(|w| w.trim().trim_matches('`').to_owned())
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect()
}

#[test]
fn architecture_md_draws_the_dependencies_the_code_has() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let deps = dependencies(&root.join("src"));
    let doc = fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut wrong = Vec::new();
    let mut domain = BTreeSet::new();
    let mut checked = 0;
    let mut in_domain = false;
    // Every module drawn so far: a row's dependencies must all be drawn above it.
    let mut above: BTreeSet<String> = BTreeSet::new();
    for line in doc.lines() {
        // Each table follows its layer's bold title; the domain's has no "depends on" column.
        if line.starts_with("**") {
            in_domain = line.starts_with("**Domain");
        }
        let Some(row) = line.strip_prefix("| `").map(|_| line) else {
            continue;
        };
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let modules: BTreeSet<String> = cell_names(cells[0])
            .into_iter()
            .filter(|m| deps.contains_key(m))
            .collect();
        if modules.is_empty() {
            continue;
        }
        match cells.len() {
            // The domain table: its modules name no module outside it (checked below).
            2 if in_domain => domain.extend(modules.iter().cloned()),
            3 if cells[2].contains("everything") || cells[2].contains("whose") => {}
            3 => {
                checked += 1;
                let drawn = cell_names(cells[2]);
                let has: BTreeSet<String> = modules
                    .iter()
                    .flat_map(|m| deps[m].iter().cloned())
                    .filter(|d| !modules.contains(d))
                    .collect();
                if drawn != has {
                    wrong.push(format!("{modules:?}: drawn {drawn:?}, code {has:?}"));
                }
                let below: Vec<&String> = has.iter().filter(|d| !above.contains(*d)).collect();
                if !below.is_empty() {
                    wrong.push(format!("{modules:?} depends on {below:?}, drawn below it"));
                }
            }
            _ => {}
        }
        above.extend(modules);
    }
    for m in &domain {
        let outside: Vec<&String> = deps[m].iter().filter(|d| !domain.contains(*d)).collect();
        if !outside.is_empty() {
            wrong.push(format!("domain module {m} names {outside:?}"));
        }
    }
    assert!(checked > 12 && domain.len() > 5, "read the module tables");
    assert!(
        wrong.is_empty(),
        "docs/ARCHITECTURE.md's module tables differ from src/:\n{}",
        wrong.join("\n")
    );
}
