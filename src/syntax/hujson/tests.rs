//! Unit tests for the HuJSON reader: spans, errors (Go's wording and positions), each
//! Format rule, Standardize's length preservation, robustness against hostile input,
//! and property tests over random policy-shaped documents.

use super::*;
use crate::syntax::tree::MAX_DEPTH;

fn fmt(src: &str) -> String {
    let out = format(src.as_bytes()).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    String::from_utf8(out).unwrap()
}

fn std_text(src: &str) -> String {
    String::from_utf8(standardize(src.as_bytes()).unwrap()).unwrap()
}

fn err(src: &[u8]) -> String {
    parse(src).expect_err("should fail").to_string()
}

/// Runs `f` on a thread with the default 2 MiB test stack, to prove it fits.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("test thread panicked");
}

// ---------------------------------------------------------------------------------------
// Parsing into the span tree

#[test]
fn spans_cover_values_keys_and_comments() {
    let src = "// head\n{\"a\": [1, \"x\\n\"], /* mid */ \"b\" : {\"c\": null,},}\n";
    let doc = parse(src.as_bytes()).unwrap();
    let text = |span: Span| &src[span.range()];
    assert_eq!(text(doc.root.span), &src[8..src.len() - 1]);
    let members = doc.root.as_object().unwrap();
    assert_eq!(text(members[0].key_span), "\"a\"");
    assert_eq!(members[0].key, "a");
    assert_eq!(text(members[0].value.span), "[1, \"x\\n\"]");
    let items = members[0].value.as_array().unwrap();
    assert_eq!(text(items[0].span), "1");
    assert_eq!(text(items[1].span), "\"x\\n\"");
    assert_eq!(items[1].as_str(), Some("x\n"));
    assert_eq!(text(members[1].key_span), "\"b\"");
    assert_eq!(text(members[1].value.span), "{\"c\": null,}");
    let comments: Vec<&str> = doc.comments.iter().map(|&c| text(c)).collect();
    assert_eq!(comments, ["// head\n", "/* mid */"]);
}

#[test]
fn scalars_decode_like_go() {
    let root = |src: &[u8]| parse(src).unwrap().root;
    assert_eq!(root(b"true").as_bool(), Some(true));
    assert!(root(b" null ").is_null());
    assert_eq!(root(b"-1.5e+3").kind, Kind::Number("-1.5e+3".into()));
    assert_eq!(
        root(b"3.14159E+435").kind,
        Kind::Number("3.14159E+435".into())
    );
    assert_eq!(root(br#""\u00e9\/\ud83d\ude02""#).as_str(), Some("é/😂"));
    // Raw invalid UTF-8 is accepted and replaced byte by byte, as Go does.
    assert_eq!(
        root(b"\"a\xffb\xe2\x82\"").as_str(),
        Some("a\u{fffd}b\u{fffd}\u{fffd}")
    );
    // Duplicate keys are kept, in order.
    let dup = root(br#"{"k": 1, "k": 2}"#);
    assert_eq!(dup.as_object().unwrap().len(), 2);
}

#[test]
fn errors_match_go_wording_and_positions() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "line 1, column 1: parsing value: unexpected EOF"),
        (
            b"null,",
            "line 1, column 5: invalid character ',' after top-level value",
        ),
        (
            b"\xef\xbb\xbfnull",
            "line 1, column 1: invalid character '\\ufeff' at start of value",
        ),
        (
            b"null//",
            "line 1, column 5: parsing comment: unexpected EOF",
        ),
        (
            b"null /* x",
            "line 1, column 6: parsing comment: unexpected EOF",
        ),
        (
            b"/* \xff */ null",
            "line 1, column 1: invalid UTF-8 in comment",
        ),
        (b"\"abc", "line 1, column 5: parsing string: unexpected EOF"),
        (b"\"a\tb\"", "line 1, column 1: invalid literal: \"a\tb\""),
        (b"\"\\u12\"", "line 1, column 1: invalid literal: \"\\u12\""),
        (b"01", "line 1, column 1: invalid literal: 01"),
        (b"True", "line 1, column 1: invalid literal: True"),
        (
            b"[1,,]",
            "line 1, column 4: invalid character ',' at start of value",
        ),
        (
            b"[1",
            "line 1, column 3: parsing array after value: unexpected EOF",
        ),
        (
            b"{\"a\"",
            "line 1, column 5: parsing object after name: unexpected EOF",
        ),
        (
            b"{\"a\":1",
            "line 1, column 7: parsing object after value: unexpected EOF",
        ),
        (
            b"{\"a\":1]",
            "line 1, column 7: invalid character ']' after object value (expecting ',' or '}')",
        ),
        (
            b"[}",
            "line 1, column 2: invalid character '}' at start of value",
        ),
        (
            b"{]",
            "line 1, column 2: invalid character ']' at start of value",
        ),
        (
            b"{[]:1}",
            "line 1, column 2: invalid character '[' at start of object name",
        ),
        (
            b"{[}",
            "line 1, column 3: invalid character '}' at start of value",
        ),
        (
            b"{\n  \"a\" 1}",
            "line 2, column 7: invalid character '1' after object name",
        ),
        (
            b"\n\n  \xff",
            "line 3, column 3: invalid character '\\xff' at start of value",
        ),
        (
            b"[\x01]",
            "line 1, column 2: invalid character '\\x01' at start of value",
        ),
        (
            "[💩]".as_bytes(),
            "line 1, column 2: invalid character '💩' at start of value",
        ),
    ];
    for &(src, want) in cases {
        assert_eq!(
            err(src),
            format!("hujson: {want}"),
            "input {:?}",
            String::from_utf8_lossy(src)
        );
    }
}

#[test]
fn every_entry_point_reports_the_same_error() {
    for src in [&b"{\"a\":}"[..], b"[1,,]", b"null//", b"\"\\x\""] {
        let want = parse(src).unwrap_err();
        assert_eq!(standardize(src).unwrap_err(), want);
        assert_eq!(format(src).unwrap_err(), want);
        assert_eq!(is_standard(src).unwrap_err(), want);
    }
}

// ---------------------------------------------------------------------------------------
// Robustness

#[test]
fn nesting_deeper_than_max_depth_is_an_error_at_the_bracket() {
    on_small_stack(|| {
        for open in ["[", "{\"k\":"] {
            let deep = open.repeat(100_000);
            for result in [
                parse(deep.as_bytes()).map(drop),
                standardize(deep.as_bytes()).map(drop),
                format(deep.as_bytes()).map(drop),
                is_standard(deep.as_bytes()).map(drop),
            ] {
                let e = result.unwrap_err();
                assert_eq!(e.message, format!("exceeded max depth of {MAX_DEPTH}"));
                assert_eq!(e.offset, MAX_DEPTH * open.len());
            }
        }
    });
}

#[test]
fn max_depth_documents_work_on_a_small_stack() {
    on_small_stack(|| {
        let arrays = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let objects = format!("{}1{}", "{\"k\": ".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        let mixed = format!(
            "{}\n0\n{}",
            "[{\"k\":\n".repeat(MAX_DEPTH / 2),
            "}\n]".repeat(MAX_DEPTH / 2)
        );
        for src in [arrays, objects, mixed] {
            let doc = parse(src.as_bytes()).unwrap();
            drop(doc);
            assert_eq!(standardize(src.as_bytes()).unwrap().len(), src.len());
            let formatted = format(src.as_bytes()).unwrap();
            assert_eq!(format(&formatted).unwrap(), formatted);
        }
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(parse(too_deep.as_bytes()).is_err());
    });
}

#[test]
fn garbage_never_panics() {
    // A deterministic xorshift stream: binary noise and JSON-ish token soup.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let tokens: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"\"",
        b"\\",
        b"/",
        b"*",
        b"//",
        b"/*",
        b"*/",
        b"\n",
        b" ",
        b"null",
        b"1",
        b"-",
        b"e",
        b"\"k\"",
        b"\xff",
        b"\xe2\x82",
        "é".as_bytes(),
    ];
    for _ in 0..3000 {
        let len = (next() % 64) as usize;
        let mut src = Vec::new();
        let binary = next() % 2 == 0;
        for _ in 0..len {
            if binary {
                src.push(next() as u8);
            } else {
                src.extend_from_slice(tokens[(next() % tokens.len() as u64) as usize]);
            }
        }
        let _ = parse(&src);
        let _ = is_standard(&src);
        if let Ok(standard) = standardize(&src) {
            assert_eq!(standard.len(), src.len());
        }
        if let Ok(formatted) = format(&src) {
            assert_eq!(format(&formatted).unwrap(), formatted, "{src:?}");
        }
    }
}

/// A large policy-shaped document (the stand-in for the 200 MB test below).
fn big_document(target_len: usize) -> Vec<u8> {
    let rule = b"  // rule\n  {\"action\": \"accept\", \"src\": [\"group:eng\", \"tag:ci\"], \"dst\": [\"tag:prod:443\", \"10.0.0.0/8:*\"],},\n";
    let mut doc = b"{\"acls\": [\n".to_vec();
    while doc.len() < target_len {
        doc.extend_from_slice(rule);
    }
    doc.extend_from_slice(b"]}\n");
    doc
}

#[test]
fn large_input_parses() {
    let doc = big_document(2_000_000);
    let tree = parse(&doc).unwrap();
    let rules = tree.root.get("acls").unwrap().as_array().unwrap().len();
    assert!(rules > 10_000);
    assert_eq!(tree.comments.len(), rules);
    assert_eq!(standardize(&doc).unwrap().len(), doc.len());
}

#[test]
#[ignore = "200 MB: run with --ignored --release"]
fn very_large_input_parses() {
    let doc = big_document(200_000_000);
    assert!(parse(&doc).is_ok());
    assert_eq!(standardize(&doc).unwrap().len(), doc.len());
    assert!(format(&doc).is_ok());
}

// ---------------------------------------------------------------------------------------
// Standardize and is_standard

#[test]
fn standardize_blanks_comments_and_trailing_commas_in_place() {
    let src = "//😊\n{\"a\": [1,2,/*x*/], /* y\n z */ \"b\": 2,}\r\n";
    let out = std_text(src);
    assert_eq!(out.len(), src.len());
    assert_eq!(
        out,
        "      \n{\"a\": [1,2      ],     \n      \"b\": 2 }\r\n"
    );
    let newlines = |s: &str| s.match_indices('\n').map(|(i, _)| i).collect::<Vec<_>>();
    assert_eq!(newlines(&out), newlines(src));
    assert!(is_standard(out.as_bytes()).unwrap());
    assert!(!is_standard(src.as_bytes()).unwrap());
    assert!(!is_standard(b"[1,]").unwrap());
    assert!(is_standard(b" [1, {\"a\": []}] ").unwrap());
    // Strings that look like comments are not comments.
    assert_eq!(std_text("\"//x\""), "\"//x\"");
}

// ---------------------------------------------------------------------------------------
// Format rules (format.go)

#[test]
fn format_ends_with_one_newline_and_no_leading_whitespace() {
    assert_eq!(fmt("  null"), "null\n");
    assert_eq!(fmt("null\n\n\n"), "null\n");
    assert_eq!(fmt("\n\n// c\nnull // d\n\n"), "// c\nnull // d\n");
}

#[test]
fn format_keeps_single_line_composites_inline() {
    assert_eq!(
        fmt("{\"a\":1,\"b\" :[ 1 ,2 ]}"),
        "{\"a\": 1, \"b\": [1, 2]}\n"
    );
    // Inline composites lose their trailing comma.
    assert_eq!(fmt("[1, 2,]"), "[1, 2]\n");
    assert_eq!(fmt("{ }"), "{}\n");
    assert_eq!(fmt("[  /* c */\t]"), "[ /* c */ ]\n");
}

#[test]
fn format_expands_on_newlines_with_tabs_and_trailing_commas() {
    assert_eq!(fmt("[1,\n2,]"), "[\n\t1,\n\t2,\n]\n");
    assert_eq!(fmt("[1, // c\n2]"), "[\n\t1, // c\n\t2,\n]\n");
    assert_eq!(fmt("{\"a\": [1, 2],\n}"), "{\n\t\"a\": [1, 2],\n}\n");
    // Standard JSON stays standard: no trailing comma is added.
    assert_eq!(fmt("{\n\"a\": 1}"), "{\n\t\"a\": 1\n}\n");
    assert_eq!(fmt("[1,\n2]"), "[\n\t1,\n\t2\n]\n");
    assert_eq!(fmt("{\n\"a\": 1, // c\n}"), "{\n\t\"a\": 1, // c\n}\n");
}

#[test]
fn format_expands_lines_longer_than_80_columns() {
    let items: Vec<String> = (0..12).map(|i| format!("\"item-{i:03}\"")).collect();
    let src = format!("[{},]", items.join(", "));
    assert!(src.len() > 80);
    let want = format!(
        "[\n{}]\n",
        items
            .iter()
            .map(|i| format!("\t{i},\n"))
            .collect::<String>()
    );
    assert_eq!(fmt(&src), want);
    let short = format!("[{}]", items[..3].join(", "));
    assert_eq!(fmt(&short), format!("{short}\n"));
}

#[test]
fn format_aligns_values_until_a_blank_line_or_comment() {
    let src = "{\n\"a\": 1,\n\"bbb\": 2,\n\n\"cc\": 3,\n// note\n\"d\": 4,\n\"eeeee\": 5}";
    let want = "{\n\t\"a\":   1,\n\t\"bbb\": 2,\n\n\t\"cc\": 3,\n\t// note\n\t\"d\":     4,\n\t\"eeeee\": 5,\n}\n";
    assert_eq!(fmt(src), want);
}

#[test]
fn format_collapses_blank_lines_and_removes_carriage_returns() {
    assert_eq!(
        fmt("[\r\n1,\r\n\r\n\r\n\r\n2,\r\n]"),
        "[\n\t1,\n\n\t2,\n]\n"
    );
    assert_eq!(fmt("[\n\n\n1]"), "[\n\t1\n]\n");
}

#[test]
fn format_trims_comments_and_reindents_block_comments() {
    assert_eq!(fmt("[\n1, // x   \n]"), "[\n\t1, // x\n]\n");
    let src = "{\n\"a\": {\n      /*\n       * one\n       * two\n       */\n      \"b\": 1}}";
    let want = "{\n\t\"a\": {\n\t\t/*\n\t\t * one\n\t\t * two\n\t\t */\n\t\t\"b\": 1,\n\t},\n}\n";
    assert_eq!(fmt(src), want);
}

#[test]
fn format_reencodes_escaped_strings() {
    assert_eq!(
        fmt(r#""\u000F\u000a\/\ud83d\ude02""#),
        "\"\\u000f\\n/😂\"\n"
    );
    assert_eq!(fmt(r#""\u003c\u003e\u0026\u2028""#), "\"<>&\u{2028}\"\n");
    // Strings without a backslash are left alone, even with invalid UTF-8.
    assert_eq!(format(b"\"\xff\"").unwrap(), b"\"\xff\"\n");
    assert_eq!(
        format(b"\"\xff\\n\"").unwrap(),
        "\"\u{fffd}\\n\"\n".as_bytes()
    );
    assert_eq!(fmt(r#"{"\u0041": 1}"#), "{\"A\": 1}\n");
}

#[test]
fn format_removes_space_before_colons_and_commas() {
    assert_eq!(
        fmt("{\"a\" : 1 , \"b\" /*c*/ : 2}"),
        "{\"a\": 1, \"b\" /*c*/ : 2}\n"
    );
}

#[test]
fn format_is_idempotent_on_examples() {
    for src in [
        "{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}]}",
        "// c\n{\n\t\"a\": [1,\n2], \"b\": {/* x */}, \"c\": [\n]\n}\n",
        "[1 /* a */, /* b */ ]",
        "{\"a\": 1, /*x*/}",
    ] {
        let once = fmt(src);
        assert_eq!(fmt(&once), once, "input {src:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Properties over random policy-shaped HuJSON

mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Doc {
        Null,
        Bool(bool),
        Number(String),
        Str(String),
        Array(Vec<Doc>),
        Object(Vec<(String, Doc)>),
    }

    const KEYS: &[&str] = &[
        "acls",
        "action",
        "src",
        "dst",
        "proto",
        "groups",
        "tagOwners",
        "hosts",
        "ssh",
        "users",
        "grants",
        "ip",
        "app",
        "tests",
        "accept",
        "deny",
        "nodeAttrs",
        "target",
        "attr",
        "autoApprovers",
        "routes",
        "exitNode",
        "postures",
        "srcPosture",
        "via",
    ];

    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-z]{1,8}(:[a-z0-9*]{1,6})?",
            2 => "(group|tag|autogroup):[a-z-]{1,10}",
            1 => "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}/[0-9]{1,2}",
            1 => "\\PC{0,6}",
            1 => "[\\x00-\\x1f\"\\\\/<>&\u{2028}é😂]{0,5}",
        ]
    }

    fn doc() -> impl Strategy<Value = Doc> {
        let leaf = prop_oneof![
            1 => Just(Doc::Null),
            1 => any::<bool>().prop_map(Doc::Bool),
            2 => "-?(0|[1-9][0-9]{0,4})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?".prop_map(Doc::Number),
            6 => string().prop_map(Doc::Str),
        ];
        leaf.prop_recursive(5, 80, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Doc::Array),
                prop::collection::vec(
                    (prop::sample::select(KEYS).prop_map(str::to_owned), inner),
                    0..8
                )
                .prop_map(Doc::Object),
            ]
        })
    }

    /// Renders a document with whitespace, comments and trailing commas chosen by
    /// `noise`, so that every position gets some variety.
    struct Renderer<'a> {
        noise: &'a [u8],
        at: usize,
        out: String,
    }

    const EXTRAS: &[&str] = &[
        "",
        "",
        "",
        " ",
        "\n",
        "\n\t",
        "\n\n\n  ",
        " // line comment  \n",
        "/* block */",
        "\r\n",
        "\n  /* multi\n   * line\n   */\n",
        "\t",
        " /**/ ",
        "\n// c1\n\n// c2\n",
        "/*\n     a\n   b */",
        "  ",
    ];

    impl Renderer<'_> {
        fn pick(&mut self) -> u8 {
            let byte = self
                .noise
                .get(self.at % self.noise.len().max(1))
                .copied()
                .unwrap_or(0);
            self.at += 1;
            byte
        }

        fn extra(&mut self) {
            let i = usize::from(self.pick()) % EXTRAS.len();
            self.out.push_str(EXTRAS[i]);
        }

        fn string(&mut self, s: &str) {
            if self.pick().is_multiple_of(3) {
                // Escape everything non-alphanumeric as \uXXXX, exercising re-encoding.
                self.out.push('"');
                for unit in s.encode_utf16() {
                    if unit < 0x80 && (unit as u8).is_ascii_alphanumeric() {
                        self.out.push(unit as u8 as char);
                    } else if self.pick().is_multiple_of(2) {
                        self.out.push_str(&std::format!("\\u{unit:04X}"));
                    } else {
                        self.out.push_str(&std::format!("\\u{unit:04x}"));
                    }
                }
                self.out.push('"');
            } else {
                self.out
                    .push_str(&serde_json::to_string(s).unwrap().replace('/', "\\/"));
            }
        }

        fn value(&mut self, doc: &Doc) {
            match doc {
                Doc::Null => self.out.push_str("null"),
                Doc::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
                Doc::Number(n) => self.out.push_str(n),
                Doc::Str(s) => self.string(s),
                Doc::Array(items) => {
                    self.out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            self.out.push(',');
                        }
                        self.extra();
                        self.value(item);
                        self.extra();
                    }
                    if !items.is_empty() && self.pick().is_multiple_of(2) {
                        self.out.push(',');
                    }
                    self.extra();
                    self.out.push(']');
                }
                Doc::Object(members) => {
                    self.out.push('{');
                    for (i, (key, value)) in members.iter().enumerate() {
                        if i > 0 {
                            self.out.push(',');
                        }
                        self.extra();
                        self.string(key);
                        self.extra();
                        self.out.push(':');
                        self.extra();
                        self.value(value);
                        self.extra();
                    }
                    if !members.is_empty() && self.pick().is_multiple_of(2) {
                        self.out.push(',');
                    }
                    self.extra();
                    self.out.push('}');
                }
            }
        }
    }

    fn render(doc: &Doc, noise: &[u8]) -> String {
        let mut renderer = Renderer {
            noise,
            at: 0,
            out: String::new(),
        };
        renderer.extra();
        renderer.value(doc);
        renderer.extra();
        // A trailing line comment must end with a newline.
        renderer.out.push('\n');
        renderer.out
    }

    /// Our tree as a serde_json value (later duplicate keys win, as in serde_json).
    fn to_serde(value: &Value) -> serde_json::Value {
        match &value.kind {
            Kind::Null => serde_json::Value::Null,
            Kind::Bool(b) => serde_json::Value::Bool(*b),
            Kind::Number(n) => serde_json::from_str(n).expect("valid number"),
            Kind::String(s) => serde_json::Value::String(s.clone()),
            Kind::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
            Kind::Object(members) => {
                let mut map = serde_json::Map::new();
                for member in members {
                    map.insert(member.key.clone(), to_serde(&member.value));
                }
                serde_json::Value::Object(map)
            }
        }
    }

    fn newline_offsets(bytes: &[u8]) -> Vec<usize> {
        bytes
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .map(|(i, _)| i)
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn format_is_idempotent(doc in doc(), noise in prop::collection::vec(any::<u8>(), 1..64)) {
            let src = render(&doc, &noise);
            let once = format(src.as_bytes()).unwrap();
            let twice = format(&once).unwrap();
            prop_assert_eq!(String::from_utf8_lossy(&twice), String::from_utf8_lossy(&once));
        }

        #[test]
        fn standardize_preserves_length_and_lines(doc in doc(), noise in prop::collection::vec(any::<u8>(), 1..64)) {
            let src = render(&doc, &noise);
            let standard = standardize(src.as_bytes()).unwrap();
            prop_assert_eq!(standard.len(), src.len());
            prop_assert_eq!(newline_offsets(&standard), newline_offsets(src.as_bytes()));
            prop_assert!(is_standard(&standard).unwrap());
        }

        #[test]
        fn standardized_text_is_json_with_our_values(doc in doc(), noise in prop::collection::vec(any::<u8>(), 1..64)) {
            let src = render(&doc, &noise);
            let tree = parse(src.as_bytes()).unwrap();
            let standard = standardize(src.as_bytes()).unwrap();
            let theirs: serde_json::Value = serde_json::from_slice(&standard).unwrap();
            prop_assert_eq!(&to_serde(&tree.root), &theirs);
            // Formatting never changes the data either.
            let formatted = format(src.as_bytes()).unwrap();
            let reparsed = parse(&formatted).unwrap();
            prop_assert_eq!(to_serde(&reparsed.root), theirs);
        }

        #[test]
        fn spans_point_at_their_text(doc in doc(), noise in prop::collection::vec(any::<u8>(), 1..64)) {
            let src = render(&doc, &noise);
            let tree = parse(src.as_bytes()).unwrap();
            let mut stack = vec![&tree.root];
            while let Some(value) = stack.pop() {
                let text = &src[value.span.range()];
                match &value.kind {
                    Kind::Null => prop_assert_eq!(text, "null"),
                    Kind::Bool(b) => prop_assert_eq!(text, b.to_string()),
                    Kind::Number(n) => prop_assert_eq!(text, &**n),
                    Kind::String(s) => prop_assert_eq!(serde_json::from_str::<String>(text).unwrap(), s.clone()),
                    Kind::Array(items) => {
                        let bracketed = text.starts_with('[') && text.ends_with(']');
                        prop_assert!(bracketed, "array span {:?}", text);
                        stack.extend(items);
                    }
                    Kind::Object(members) => {
                        let braced = text.starts_with('{') && text.ends_with('}');
                        prop_assert!(braced, "object span {:?}", text);
                        for member in members {
                            let key = &src[member.key_span.range()];
                            prop_assert_eq!(serde_json::from_str::<String>(key).unwrap(), member.key.clone());
                            stack.push(&member.value);
                        }
                    }
                }
            }
            for comment in &tree.comments {
                let text = &src[comment.range()];
                prop_assert!(text.starts_with("//") || text.starts_with("/*"));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(src in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&src);
            if let Ok(standard) = standardize(&src) {
                prop_assert_eq!(standard.len(), src.len());
            }
            if let Ok(formatted) = format(&src) {
                prop_assert_eq!(format(&formatted).unwrap(), formatted);
            }
        }
    }
}
