//! Fuzzing of the template engine on the stable toolchain: a seeded mutation loop over real
//! templates (the shared byte mutations plus splices of VTL tokens) and over the bodies they
//! read. Compiling and rendering must never panic, a refusal must carry a short message, a
//! render must stay within its limits, and no single allocation may exceed a few times the
//! output limit.
//!
//! Runs for about two seconds in `cargo test`; `TOLLGATE_FUZZ_SECS=N` runs longer and
//! `TOLLGATE_FUZZ_SEED=N` replays a seed.

use std::time::Instant;
use tollgate_vtl::{Input, Limits, Template};

#[path = "../../proto/tests/support/fuzz.rs"]
#[allow(dead_code)]
mod fuzz;
use fuzz::{budget, mutate, watched, Rng};

const TEMPLATES: &[&str] = &[
    r#"{"id": "$input.params('id')", "name": $input.json('$.name'), "tags": $input.json('$.tags')}"#,
    "#set($l = [])#foreach($t in $input.path('$.tags'))#set($ok = $l.add($t.toUpperCase()))#end$l",
    "#if($input.path('$.n') > 2)big#elseif($input.path('$.n') == 2)two#else small#end",
    "#foreach($i in $input.path('$.items'))$i.id:$util.urlEncode($i.name)#if($foreach.hasNext),#end#end",
    "#define($d)[$context.requestId]#end$d$d #set($m = {'a': [1..3]})$m.a.get(1) $m",
    "$util.escapeJavaScript($input.body) $util.base64Encode($input.path('$.name')) $util.parseJson('{\"a\":[1,{\"b\":2}]}').a",
    "#set($s = \"$input.params('q')-x\")$s.replaceAll('(\\w+)', '$1$1').split('-') $s.substring(1, 3)",
    "## comment\n#* block *##[[ raw $x ]]##macro(m $a)$a#end#m(1) $!nothing ${stageVariables.env}",
    "$input.path('$..name') $input.json('$.items[?(@.id >= 2)]') $input.path('$.items[-1:]')",
    "#set($context.responseOverride.status = 201)#set($context.responseOverride.header.X = $input.params('id'))",
];

const BODIES: &[&str] = &[
    r#"{"name":"Ann","n":3,"tags":["a","b"],"items":[{"id":1,"name":"x y"},{"id":2,"name":"é"}]}"#,
    "",
    "[1,2,3]",
    "not json",
];

const TOKENS: &[&str] = &[
    "#if(",
    "#elseif(",
    "#else",
    "#end",
    "#foreach($x in ",
    "#set($a = ",
    "#define($d)",
    "#break",
    "#stop",
    "#macro(",
    "$input.path('",
    "$input.json('$..",
    "$a",
    "${",
    "}",
    "$!",
    "(",
    ")",
    "[",
    "]",
    "'",
    "\"",
    "..",
    ",",
    "#*",
    "*#",
    "##",
    "\n",
    "[1..999]",
    "$a.add($a)",
    "$l.get(-1)",
    ".substring(",
    "$foreach.hasNext",
    "[?(@.",
    "$util.parseJson(",
    "==",
    "+",
];

#[test]
fn mutated_templates_never_panic_and_stay_bounded() {
    let (time, seed) = budget();
    let mut rng = Rng(seed);
    let limits = Limits {
        max_output: 1 << 20,
        max_steps: 100_000,
        max_items: 10_000,
    };
    let until = Instant::now() + time;
    let (mut runs, mut refused, mut failed) = (0u64, 0u64, 0u64);
    while Instant::now() < until || runs < 500 {
        let mut t = TEMPLATES[rng.below(TEMPLATES.len())].as_bytes().to_vec();
        for _ in 0..=rng.below(4) {
            if t.is_empty() || rng.below(2) == 0 {
                let tok = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let at = rng.below(t.len() + 1);
                t.splice(at..at, tok.iter().copied());
            } else {
                mutate(&mut rng, &mut t);
            }
        }
        let text = String::from_utf8_lossy(&t).into_owned();
        let mut body = BODIES[rng.below(BODIES.len())].as_bytes().to_vec();
        if !body.is_empty() && rng.below(3) == 0 {
            mutate(&mut rng, &mut body);
        }
        let input = Input {
            body: &body,
            path: &[("id", "7")],
            query: &[("q", "a b")],
            headers: &[("X-A", "1")],
            context: &[("requestId", "r")],
            stage_variables: &[("env", "dev")],
        };
        let (outcome, largest) = watched(|| match Template::compile(&text) {
            Err(e) => Err(e.to_string()),
            Ok(tpl) => {
                let mut out = String::new();
                match tpl.render_with(&input, &mut out, &limits) {
                    Ok(_) => Ok(out.len()),
                    Err(e) => {
                        failed += 1;
                        assert!(out.is_empty(), "a failed render leaves no partial output");
                        let msg = e.to_string();
                        assert!(!msg.is_empty() && msg.len() < 500, "{msg}");
                        Ok(0)
                    }
                }
            }
        });
        assert!(
            largest <= 8 * limits.max_output,
            "seed {seed} run {runs}: a {largest}-byte allocation for {text:?}"
        );
        match outcome {
            Ok(len) => assert!(len <= limits.max_output, "seed {seed} run {runs}"),
            Err(msg) => {
                assert!(!msg.is_empty() && msg.len() < 500, "{msg}");
                refused += 1;
            }
        }
        runs += 1;
    }
    eprintln!("template fuzz: {runs} inputs, {refused} refused at compile, {failed} failed at render, seed {seed}");
}

/// The body reader against serde_json on mutated documents: what serde_json accepts is
/// accepted and written back as the same JSON value; what it refuses is refused (lone
/// surrogates and out-of-range numbers aside, which the lenient reader keeps).
#[test]
fn the_body_reader_agrees_with_serde_json() {
    let (time, seed) = budget();
    let mut rng = Rng(seed ^ 0x5eed);
    let t = Template::compile("$input.json('$')").unwrap();
    let docs: &[&str] = &[
        r#"{"a":[1,-2.5e3,"x\"\\\/\n\u00e9",{"b":null,"c":true,"d":false}],"e":{},"f":[]}"#,
        r#"[0, 1.0, -0, "", {"": [[[]]]}, 12345678901234567890]"#,
        r#"  {"k\u00e9y" : "v" , "n" : 3 }  "#,
    ];
    let until = Instant::now() + time / 2;
    let mut runs = 0u64;
    while Instant::now() < until || runs < 500 {
        let mut body = docs[rng.below(docs.len())].as_bytes().to_vec();
        for _ in 0..=rng.below(3) {
            if !body.is_empty() {
                mutate(&mut rng, &mut body);
            }
        }
        let ours = t.render_to_string(&Input {
            body: &body,
            ..Input::default()
        });
        let theirs = serde_json::from_slice::<serde_json::Value>(&body);
        let text = String::from_utf8_lossy(&body);
        match (&ours, &theirs) {
            (Ok(out), Ok(v)) if !body.is_empty() => {
                let back: serde_json::Value = serde_json::from_str(out)
                    .unwrap_or_else(|e| panic!("{text:?} wrote {out:?}: {e}"));
                assert_eq!(&back, v, "{text:?}");
            }
            (Err(_), Err(_)) | (Ok(_), Ok(_)) => {}
            (Ok(_), Err(e)) => {
                let m = e.to_string();
                let lenient = m.contains("surrogate")
                    || m.contains("out of range")
                    || m.contains("unicode")
                    || std::str::from_utf8(&body).is_err();
                assert!(lenient || body.is_empty(), "{text:?}: serde_json says {m}");
            }
            (Err(e), Ok(_)) => panic!("{text:?}: refused ({e}) but serde_json accepts it"),
        }
        runs += 1;
    }
    eprintln!("body reader differential: {runs} documents, seed {seed}");
}
