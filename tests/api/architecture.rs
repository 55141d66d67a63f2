//! The crate's top-level modules depend on each other one way: no cycle.
//!
//! Reads `src/`: a module `a` depends on `b` when code in `a` (outside its tests) names
//! `crate::b`. The layers this keeps are drawn in docs/ARCHITECTURE.md; a change that makes two
//! modules need each other fails here, naming the cycle.

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
