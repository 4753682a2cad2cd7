//! No two files of the gateway import each other, directly or round a loop (STYLE.md, "No
//! circles between files"): compiled tables below the stages that read them, verifiers below
//! the stage that chooses among them. An arrow is a `crate::…` or `super::…` path (or one
//! through a module the file declares) to the deepest module it names; comments and test
//! modules do not count, nor does `mod x;` itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// Every module of `src` with its code (comments and the trailing test module cut off).
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![src.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("the source directory is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut module: Module = vec!["crate".into()];
            module.extend(relative.iter().map(|s| s.to_string_lossy().into_owned()));
            if matches!(module.last().map(String::as_str), Some("lib" | "mod")) {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).expect("a source file is readable");
            found.insert(module, code_of(&text));
        }
    }
    found
}

fn code_of(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The path that starts at byte `at` of `code`: segments, `::`, and a final `{…}` group.
fn path_at(code: &str, at: usize) -> &str {
    let bytes = code.as_bytes();
    let mut end = at;
    loop {
        while end < bytes.len() && (is_ident(bytes[end] as char) || bytes[end] == b'*') {
            end += 1;
        }
        if !code[end..].starts_with("::") {
            return &code[at..end];
        }
        end += 2;
        if bytes.get(end) == Some(&b'{') {
            let mut depth = 0;
            for (i, c) in code[end..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    return &code[at..end + i + 1];
                }
            }
            return &code[at..];
        }
    }
}

/// `a::{b, c::{d, self}}` → `a::b`, `a::c::d`, `a::c`.
fn expand(path: &str) -> Vec<String> {
    let Some(open) = path.find('{') else {
        return vec![path.to_owned()];
    };
    let (head, group) = (&path[..open], &path[open + 1..path.len() - 1]);
    let (mut parts, mut depth, mut current) = (Vec::new(), 0, String::new());
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .iter()
        .map(|p| p.split_whitespace().collect::<String>())
        .filter(|p| !p.is_empty())
        .flat_map(|p| match p.as_str() {
            "self" => vec![head.trim_end_matches(':').to_owned()],
            _ => expand(&format!("{head}{p}")),
        })
        .collect()
}

/// The modules `module`'s code names.
fn arrows(module: &Module, code: &str, all: &BTreeMap<Module, String>) -> BTreeSet<Module> {
    let children: Vec<String> = code
        .split("mod ")
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            rest[name.len()..]
                .trim_start()
                .starts_with(';')
                .then_some(name)
        })
        .collect();
    let mut out = BTreeSet::new();
    for (at, _) in code.char_indices() {
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| is_ident(c) || c == ':')
        {
            continue;
        }
        let rest = &code[at..];
        let starts = rest.starts_with("crate::")
            || rest.starts_with("super::")
            || children.iter().any(|c| rest.starts_with(&format!("{c}::")));
        if !starts {
            continue;
        }
        for path in expand(path_at(code, at)) {
            let mut segments: Vec<String> = path.split("::").map(str::to_owned).collect();
            match segments[0].as_str() {
                "crate" => {}
                "super" => {
                    segments.splice(..1, module[..module.len() - 1].iter().cloned());
                }
                _ => {
                    segments.splice(..0, module.iter().cloned());
                }
            }
            let deepest = (1..=segments.len())
                .rev()
                .map(|n| segments[..n].to_vec())
                .find(|m| all.contains_key(m));
            if let Some(target) = deepest.filter(|t| t != module) {
                out.insert(target);
            }
        }
    }
    out
}

/// A loop of arrows through `from`, if one is reachable from it.
fn circle(
    from: &Module,
    graph: &BTreeMap<Module, BTreeSet<Module>>,
    path: &mut Vec<Module>,
    done: &mut BTreeSet<Module>,
) -> Option<Vec<Module>> {
    if let Some(start) = path.iter().position(|m| m == from) {
        return Some(path[start..].to_vec());
    }
    if done.contains(from) {
        return None;
    }
    path.push(from.clone());
    for next in &graph[from] {
        if let Some(found) = circle(next, graph, path, done) {
            return Some(found);
        }
    }
    path.pop();
    done.insert(from.clone());
    None
}

#[test]
fn no_file_of_the_gateway_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let all = modules(&src);
    let graph: BTreeMap<Module, BTreeSet<Module>> = all
        .iter()
        .map(|(module, code)| (module.clone(), arrows(module, code, &all)))
        .collect();
    assert!(
        graph[&vec!["crate".to_owned(), "proxy".to_owned()]]
            .contains(&vec!["crate".to_owned(), "stage".to_owned()]),
        "the check sees the proxy's arrow to the stages"
    );
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(found) = circle(module, &graph, &mut Vec::new(), &mut done) {
            let mut names: Vec<String> = found.iter().map(|m| m.join("::")).collect();
            names.push(names[0].clone());
            panic!("a circle between gateway files: {}", names.join(" -> "));
        }
    }
}

#[test]
fn compiled_tables_import_nothing_of_the_request_path() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let all = modules(&src);
    let request_time = ["stage", "proxy", "authn", "health", "upstream_client"];
    for (module, code) in all
        .iter()
        .filter(|(m, _)| m.get(1).is_some_and(|s| s == "compiled"))
    {
        for target in arrows(module, code, &all) {
            assert!(
                !request_time.contains(&target.get(1).map_or("", String::as_str)),
                "{} imports {}",
                module.join("::"),
                target.join("::")
            );
        }
    }
}
