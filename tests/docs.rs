//! `docs/rules.md` is generated from the rule registry and must not drift from it.

#[test]
fn the_rules_table_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md");
    let table = tsacl::rules::markdown_table();
    if std::env::var_os("TSACL_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &table).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == table,
        "docs/rules.md is out of date: run `TSACL_UPDATE_DOCS=1 cargo test --test docs`"
    );
}
