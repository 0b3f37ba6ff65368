//! The layout the code keeps (the layout issue's "done when"), checked on every run so it does
//! not drift back: no source file with more than 800 lines of non-test code, every file opening
//! with a comment that says what lives there, no two modules of a crate that import each other
//! (directly or round a longer loop), and binaries whose `main.rs` only calls the library.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 4] = ["proto", "console-kit", "exchange-node", "registry"];
const MAX_LINES: usize = 800;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds tests/")
        .to_path_buf()
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}

/// The lines of a file before its unit tests (`#[cfg(test)]` at the start of a line).
fn code_lines(text: &str) -> usize {
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .count()
}

#[test]
fn every_source_file_is_short_and_says_what_it_holds() {
    let mut too_long = Vec::new();
    let mut files = Vec::new();
    for krate in CRATES {
        rust_files(&workspace().join(krate).join("src"), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a readable file");
        let lines = code_lines(&text);
        if lines > MAX_LINES {
            too_long.push(format!("{} has {lines} lines of code", file.display()));
        }
    }
    assert!(too_long.is_empty(), "split these by concern: {too_long:#?}");
}

/// The top-level module a file belongs to (`store` for `src/store/people.rs`); `None` for the
/// crate root and binaries.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_string())
}

/// Which top-level modules each one names (`crate::x` outside comments).
fn module_imports(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = workspace().join(krate).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&src, f)).collect();
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = top_module(&src, file) else {
            continue;
        };
        let entry = imports.entry(module.clone()).or_default();
        let text = std::fs::read_to_string(file).expect("a readable file");
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
            for (index, _) in code.match_indices("crate::") {
                let rest = &code[index + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // `$crate::` in macros names another crate; `super::crate` does not occur.
                let preceded_by_dollar = index > 0 && code.as_bytes()[index - 1] == b'$';
                if !preceded_by_dollar && name != module && modules.contains(&name) {
                    entry.insert(name);
                }
            }
        }
    }
    imports
}

/// The modules that can reach themselves through imports.
fn cycles(imports: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for start in imports.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = imports[start].iter().collect();
        while let Some(module) = stack.pop() {
            if module == start {
                found.push(start.clone());
                break;
            }
            if seen.insert(module.clone())
                && let Some(next) = imports.get(module)
            {
                stack.extend(next.iter());
            }
        }
    }
    found
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for krate in CRATES {
        let imports = module_imports(krate);
        // console-kit is small by design (its five modules); the services have many more.
        let fewest = if krate == "console-kit" { 5 } else { 6 };
        assert!(imports.len() >= fewest, "{krate}: found only {imports:?}");
        let in_cycles = cycles(&imports);
        assert!(
            in_cycles.is_empty(),
            "{krate}: these modules reach themselves through imports: {in_cycles:?}\n{imports:#?}"
        );
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    imports.insert("config".into(), ["monitor".to_string()].into());
    imports.insert("monitor".into(), ["outbox".to_string()].into());
    imports.insert("outbox".into(), ["config".to_string()].into());
    imports.insert("store".into(), BTreeSet::new());
    assert_eq!(cycles(&imports), vec!["config", "monitor", "outbox"]);
}

#[test]
fn both_binaries_main_only_call_their_library() {
    for krate in ["exchange-node", "registry"] {
        let main = workspace().join(krate).join("src").join("main.rs");
        let text = std::fs::read_to_string(&main).expect("main.rs");
        let code: Vec<&str> = text
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with("//"))
            .collect();
        assert!(code.len() <= 5, "{}: {code:#?}", main.display());
        assert!(text.contains("::cli::main()"), "{}", main.display());
    }
}
