//! The template table: (input body, template, expected output) for every construct and every
//! AWS quirk the engine reproduces. References:
//! - [MT] AWS, "Variables for data transformations for API Gateway" (the mapping template
//!   reference: `$input`, `$util`, `$context`, `$stageVariables` and the VTL notes):
//!   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
//! - [VTL] Apache Velocity 1.7 user guide / VTL reference.
//! - [JP] Goessner JSONPath and Jayway JsonPath (which `$input.path`/`$input.json` evaluate).

use tollgate_vtl::{Input, RenderError, Template, MAX_FOREACH};

const BODY: &str = r#"{"name":"Ann O'Neil","age":30,"tags":["a","b","c"],
"pet":{"kind":"dog","legs":4},"items":[{"id":1,"price":5.5},{"id":2,"price":12}],"empty":[]}"#;

fn input(body: &str) -> Input<'_> {
    Input {
        body: body.as_bytes(),
        path: &[("id", "42"), ("both", "from-path")],
        query: &[("q", "hello world"), ("both", "from-query")],
        headers: &[("Content-Type", "application/json"), ("X-Trace", "t-1")],
        context: &[
            ("requestId", "req-1"),
            ("httpMethod", "POST"),
            ("stage", "prod"),
            ("identity.sourceIp", "10.0.0.1"),
            ("resourcePath", "/pets/{id}"),
        ],
        stage_variables: &[("env", "production"), ("host", "example.com")],
    }
}

fn render(body: &str, template: &str) -> String {
    match Template::compile(template) {
        Ok(t) => t
            .render_to_string(&input(body))
            .unwrap_or_else(|e| format!("<render error: {e}>")),
        Err(e) => format!("<compile error: {e}>"),
    }
}

/// (body, template, expected).
const CASES: &[(&str, &str, &str)] = &[
    // --- text, references ---------------------------------------------------------------
    (BODY, "plain text", "plain text"),
    (BODY, "#set($a = 'x')$a ${a} $!a $!{a}", "x x x x"),
    // [MT] "undefined variables print nothing" (Velocity would print `$nothing` literally).
    (BODY, "[$nothing][$!nothing][${nothing}][$nothing.foo()]", "[][][][]"),
    (BODY, "$ 5 and $5 and #", "$ 5 and $5 and #"),
    (BODY, "#set($a = 'v')${a}b $a.b", "vb "),
    // --- #set, literals, operators [VTL] ----------------------------------------------------
    (BODY, "#set($n = 7)#set($m = $n * 2 + 1)$m", "15"),
    (BODY, "#set($x = 7 / 2)#set($y = 7 % 3)#set($z = 1.5 * 2)$x $y $z", "3 1 3.0"),
    (BODY, "#set($x = 1 / 0)[$x]", "[]"),
    (BODY, "#set($s = 'a' + 1 + 'b')$s", "a1b"),
    (BODY, "#set($s = \"n=$input.params('id')\")$s", "n=42"),
    (BODY, "#set($s = 'n=$input')$s", "n=$input"),
    (BODY, "#set($s = \"say \"\"hi\"\"\")$s", "say \"hi\""),
    (BODY, "#set($l = [1, 'two', 3.5])$l $l.size()", "[1, two, 3.5] 3"),
    (BODY, "#set($r = [1..4])$r #set($d = [3..1])$d", "[1, 2, 3, 4][3, 2, 1]"),
    (BODY, "#set($m = {'k': 'v', \"n\": 1})$m $m.k $m['n']", "{k=v, n=1} v 1"),
    // [VTL] 1.7: a null right-hand side leaves the variable as it was.
    (BODY, "#set($a = 'keep')#set($a = $nothing)$a", "keep"),
    (BODY, "#set($m = {})#set($m.k = 'v')#set($m['j'] = 2)$m", "{k=v, j=2}"),
    // #set eats the blanks before it and the line break after it [VTL 1.7 lexer].
    (BODY, "a\n  #set($x = 1)\nb", "a\nb"),
    // --- #if / #elseif / #else [VTL] --------------------------------------------------------
    (BODY, "#if(true)yes#end", "yes"),
    (BODY, "#if($nothing)yes#else no#end", " no"),
    (BODY, "#if(false)a#elseif(1 == 1.0)b#else c#end", "b"),
    (BODY, "#if('' && 0)truthy#end", "truthy"),
    (BODY, "#if(!$nothing && not false)ok#end", "ok"),
    (BODY, "#if(2 > 1 and 1 lt 2 && 3 >= 3 || false)ok#end", "ok"),
    (BODY, "#if('a' == 'a' && 'a' != 'b' && 1 eq 1 && 1 ne 2)ok#end", "ok"),
    (BODY, "#if($input.path('$.age') == 30)thirty#end", "thirty"),
    (BODY, "#{if}(true)braced#{else}no#{end}", "braced"),
    // A directive alone on its line takes its line break with it.
    (BODY, "#if(true)\nline\n#end\nafter", "line\nafter"),
    // --- #foreach [VTL], [MT] ------------------------------------------------------------------
    (BODY, "#foreach($t in $input.path('$.tags'))$t#if($foreach.hasNext),#end#end", "a,b,c"),
    (BODY, "#foreach($t in ['x','y'])$velocityCount:$t:$velocityHasNext #end", "1:x:true 2:y:false "),
    (BODY, "#foreach($t in ['x','y'])$foreach.index/$foreach.count/$foreach.first/$foreach.last #end", "0/1/true/false 1/2/false/true "),
    (BODY, "#foreach($i in $input.path('$.items'))$i.id=$i.price;#end", "1=5.5;2=12;"),
    (BODY, "#foreach($v in {'a': 1, 'b': 2})$v#end", "12"),
    (BODY, "#foreach($x in $nothing)never#end#foreach($x in $input.path('$.empty'))never#end.", "."),
    (BODY, "#foreach($i in [1..5])#if($i == 3)#break#end$i#end", "12"),
    (BODY, "#set($i = 'outer')#foreach($i in [1])$i#end $i", "1 outer"),
    (BODY, "#foreach($a in [1,2])#foreach($b in ['x','y'])$a$b$velocityCount #end#end", "1x1 1y2 2x1 2y2 "),
    // --- #define, #break, #stop, comments, unparsed, #macro ---------------------------------
    (BODY, "#define($greet)hi $input.params('id')#end$greet/$greet.length()", "hi 42/5"),
    (BODY, "before#stop after", "before"),
    (BODY, "a#break b", "a"),
    (BODY, "a## a comment\nb", "ab"),
    (BODY, "a#* block\ncomment *#b", "ab"),
    (BODY, "#[[$not.parsed #if]]#", "$not.parsed #if"),
    // [MT] `#macro` is not expanded: the definition prints nothing, a call stays text.
    (BODY, "#macro(twice $x)$x$x#end#twice('a')", "#twice('a')"),
    // --- method calls on strings, lists, maps [VTL: Java methods] --------------------------
    (BODY, "#set($s = 'Hello World')$s.length() $s.substring(6) $s.substring(0, 5) $s.indexOf('o') $s.lastIndexOf('o')", "11 World Hello 4 7"),
    (BODY, "#set($s = ' Hi ')[$s.trim()] $s.toUpperCase() $s.toLowerCase() $s.contains('H') $s.isEmpty()", "[Hi]  HI   hi  true false"),
    (BODY, "#set($s = 'a-b-c')$s.replace('-', '+') $s.replaceAll('(\\w)-', '$1=') $s.replaceFirst('-', '') $s.split('-') $s.split('-').size()", "a+b+c a=b=c ab-c [a, b, c] 3"),
    (BODY, "#set($s = 'abc')$s.startsWith('a') $s.endsWith('c') $s.equals('abc') $s.equalsIgnoreCase('ABC') $s.matches('[a-c]+') $s.charAt(1) $s.concat('d')", "true true true true true b abcd"),
    (BODY, "#set($l = ['a'])#set($ok = $l.add('b'))$l $l.get(1) $l.contains('a') $l.isEmpty() $l.indexOf('b') $l.empty", "[a, b] b true false 1 false"),
    (BODY, "#set($l = [3,1])$l.add(2) $l", "true [3, 1, 2]"),
    (BODY, "#set($m = {'a': 1})#set($old = $m.put('b', 2))$m.get('b') $m.containsKey('a') $m.keySet() $m.values() $m.size() $m.isEmpty()", "2 true [a, b] [1, 2] 2 false"),
    (BODY, "#set($m = {'a': 1})#foreach($e in $m.entrySet())$e.key=$e.value#end", "a=1"),
    (BODY, "#set($p = $input.path('$.pet'))$p.get('kind') $p.kind $p['legs'] $p.size()", "dog dog 4 2"),
    // --- $input [MT] --------------------------------------------------------------------------
    (BODY, "$input.json('$.name')", "\"Ann O'Neil\""),
    (BODY, "$input.json('$.pet')", "{\"kind\":\"dog\",\"legs\":4}"),
    (BODY, "$input.json('$.tags[1]') $input.json('$.items[*].id')", "\"b\" [1,2]"),
    // [MT] `$input.path` returns an object: a map prints as {k=v}, a list as JSON.
    (BODY, "$input.path('$.pet') $input.path('$.tags')", "{kind=dog, legs=4} [\"a\",\"b\",\"c\"]"),
    (BODY, "$input.path('$.name') $input.path('$.age') $input.path('$.tags').size()", "Ann O'Neil 30 3"),
    (BODY, "$input.path('$.items[?(@.price > 10)].id')", "[2]"),
    (BODY, "$input.path('$..id')", "[1,2]"),
    (BODY, "[$input.path('$.missing')] $input.json('$.missing')", "[] \"\""),
    (BODY, "#set($p = '$.pet.kind')$input.path($p)", "dog"),
    (r#"{"a":1}"#, "$input.body", r#"{"a":1}"#),
    (BODY, "$input.path('$.items')[1].id $input.path('$.items').get(0).price $input.path('$.pet').containsKey('legs')", "2 5.5 true"),
    // Each `$input.path` call reads the body anew: a change to what one returned is not seen
    // by the next (AWS evaluates the path against the payload on every call).
    (BODY, "#set($p = $input.path('$.pet'))#set($x = $p.put('age', 3))$p $p.size() $input.path('$.pet')", "{kind=dog, legs=4, age=3} 3 {kind=dog, legs=4}"),
    (BODY, "#set($t = $input.path('$.tags'))#set($x = $t.add('d'))$t $t.size()", "[\"a\",\"b\",\"c\",\"d\"] 4"),
    // `$o.a.b` printed straight from the body (the render's shortcut) reads as the general
    // path: members, nested objects, lists, missing members, getters on a string or list.
    (BODY, "#set($o = $input.path('$'))$o.pet.kind $o.pet $o.pet.legs $o.tags $o.items [$o.missing.x][$o.pet.kind.x] $o.tags.empty $o.name.empty $o.age", "dog {kind=dog, legs=4} 4 [\"a\",\"b\",\"c\"] [{\"id\":1,\"price\":5.5},{\"id\":2,\"price\":12}] [][] false false 30"),
    (BODY, "#set($o = $input.path('$'))#set($o.age = 31)$o.age $o.pet.kind #set($x = $o.put('pet', 'none'))$o.pet", "31 dognone"),
    // Setting a member through a nested path changes the one object every name of it reads,
    // as in Java's object graph [VTL]: `$o.pet` is the same map each time it is read, and a
    // name bound to it (`$p`) is that map too; the object prints with the change, also as
    // JSON. Another `$input.path` reads the body anew (its own graph: unchanged).
    (BODY, "#set($o = $input.path('$'))#set($o.pet.kind = 'cat')$o.pet.kind|#set($p = $o.pet)#set($p.kind = 'cow')$p.kind|$o.pet.kind|$o.pet|$input.path('$.pet.kind')|$input.path('$').pet.kind", "cat|cow|cow|{kind=cow, legs=4}|dog|dog"),
    (BODY, "#set($o = $input.path('$'))#set($o.items[1].price = 7)$o.items[1].price $o.items #set($it = $o.items.get(0))#set($it.id = 9)$o.items.get(0).id $o.items.size()", "7 [{\"id\":1,\"price\":5.5},{\"id\":2,\"price\":7}]9 2"),
    // Objects of different shapes read by one `$i.sku` (whose remembered member place would
    // land on a nested object's `sku`, or past a smaller object's end).
    (r#"[{"x":1,"sku":"a"},{"n":{"sku":"inner"},"sku":"outer"},{"sku":"first"},{"sku":"x","y":{"sku":"z"}},{"y":{"sku":"z"},"q":2},{"a":1,"s\u006bu":"esc"},{"x":1,"sku":"b"}]"#, "#foreach($i in $input.path('$'))$i.sku,#end", "a,outer,first,x,,esc,b,"),
    (BODY, "#set($o = $input.path('$'))#set($o.pet.kind = 'cat')#foreach($k in $o.pet.keySet())$k=$o.pet.get($k) #end$o.pet.kind.length()", "kind=cat legs=4 3"),
    (r#"{"a\u0062": {"c": "x\ty", "d": -0, "e": 1.50, "f": 12345678901234567890}}"#, "#set($o = $input.path('$'))$o.ab.c|$o.ab.d|$o.ab.e|$o.ab.f|$o.ab", "x\ty|-0.0|1.5|1.2345678901234567E19|{c=x\ty, d=-0.0, e=1.5, f=1.2345678901234567E19}"),
    (r#"{"k\u00e9y": "caf\u00e9 \"x\"", "n": -1.5e2}"#, "$input.path('$.kéy') $input.json('$.kéy') $input.path('$.n') $input.json('$')", "café \"x\" \"café \\\"x\\\"\" -150.0 {\"k\\u00e9y\":\"caf\\u00e9 \\\"x\\\"\",\"n\":-1.5e2}"),
    // [MT] an empty body reads as `{}`.
    ("", "$input.body $input.json('$')", "{} {}"),
    (BODY, "$input.params('id') $input.params('q') $input.params('x-trace') [$input.params('none')]", "42 hello world t-1 []"),
    // [MT] `$input.params(x)`: path first, then query string, then header.
    (BODY, "$input.params('both')", "from-path"),
    (BODY, "$input.params().path.id $input.params().querystring.get('q') $input.params().header['X-Trace']", "42 hello world t-1"),
    (BODY, "#foreach($h in $input.params().header.keySet())$h;#end", "Content-Type;X-Trace;"),
    (BODY, "$input.params().path", "{id=42, both=from-path}"),
    // --- $util [MT] ------------------------------------------------------------------------------
    (BODY, "$util.escapeJavaScript($input.path('$.name'))", "Ann O\\'Neil"),
    (BODY, "$util.escapeJavaScript('say \"x\"/\n')", "say \\\"x\\\"\\/\\n"),
    // [MT] urlEncode: a space becomes `+`.
    (BODY, "$util.urlEncode('a b&c/é')", "a+b%26c%2F%C3%A9"),
    (BODY, "$util.urlDecode('a+b%26c')", "a b&c"),
    (BODY, "$util.base64Encode('hello') $util.base64Decode('aGVsbG8=')", "aGVsbG8= hello"),
    (BODY, "#set($o = $util.parseJson('{\"a\":{\"b\":[1,2]}}'))$o.a.b.get(1) $o", "2 {a={b=[1,2]}}"),
    // --- $context, $stageVariables [MT] -------------------------------------------------------
    (BODY, "$context.requestId $context.httpMethod $context.identity.sourceIp $context.stage", "req-1 POST 10.0.0.1 prod"),
    (BODY, "[$context.authorizer.principalId][$context.nothing]", "[][]"),
    (BODY, "$stageVariables.env $stageVariables['host'] $stageVariables.get('env') [$stageVariables.none]", "production example.com production []"),
    (BODY, "#set($context.responseOverride.status = 418)$context.responseOverride.status", "418"),
];

#[test]
fn the_table() {
    let mut failures = Vec::new();
    for (i, (body, template, expected)) in CASES.iter().enumerate() {
        let got = render(body, template);
        if got != *expected {
            failures.push(format!(
                "case {i}: {template:?}\n   expected {expected:?}\n   got      {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn overrides_are_returned() {
    let t = Template::compile(
        "#set($context.responseOverride.status = 201)\
         #set($context.responseOverride.header.X-Id = $input.params('id'))\
         #set($context.requestOverride.querystring.page = '2')\
         #set($context.identity.sourceIp = 'spoofed')$context.identity.sourceIp",
    )
    .unwrap();
    let mut out = String::new();
    let r = t.render(&input(BODY), &mut out).unwrap();
    assert_eq!(out, "10.0.0.1");
    assert_eq!(r.get("responseOverride.status"), Some("201"));
    assert_eq!(r.get("responseOverride.header.X-Id"), Some("42"));
    assert_eq!(r.get("requestOverride.querystring.page"), Some("2"));
    assert_eq!(r.overrides.len(), 3);
}

#[test]
fn foreach_stops_at_aws_limit() {
    let t = Template::compile("#foreach($i in [1..5000])x#end").unwrap();
    let out = t.render_to_string(&input(BODY)).unwrap();
    assert_eq!(out.len(), MAX_FOREACH);
}

#[test]
fn request_data_use_is_known() {
    for (t, uses) in [
        ("{\"statusCode\": 200}", false),
        (
            "#set($a = 1)$a $stageVariables.env $util.urlEncode('x')",
            false,
        ),
        ("$input.params('id')", true),
        ("#set($s = \"$context.requestId\")", true),
        ("#if(true)#define($d)$input.body#end#end", true),
    ] {
        assert_eq!(
            Template::compile(t).unwrap().uses_request_data(),
            uses,
            "{t}"
        );
    }
}

#[test]
fn parse_errors_carry_a_position() {
    for (t, line, column, what) in [
        ("#if(true)\nno end", 1, 1, "#if without #end"),
        ("ok\n#end", 2, 1, "#end without"),
        ("x #set($a = )", 1, 13, "unexpected"),
        ("#set($a = 'open)", 1, 11, "unclosed string"),
        ("a\n  #foreach($x $l)#end", 2, 15, "expected 'in'"),
        ("#* never closed", 1, 1, "unclosed comment"),
        ("$input.path('$.a[')", 1, 1, "invalid JSONPath"),
        ("#set($input = 1)", 1, 6, "#set can assign only"),
        ("#include('x')", 1, 1, "not supported"),
        ("#else", 1, 1, "without #if"),
    ] {
        let e = Template::compile(t).expect_err(t);
        assert_eq!((e.line, e.column), (line, column), "{t}: {e}");
        assert!(e.message.contains(what), "{t}: {e}");
    }
    let deep = "#if(true)".repeat(100);
    assert!(Template::compile(&deep)
        .unwrap_err()
        .message
        .contains("nesting"));
    let big = "x".repeat(tollgate_vtl::MAX_TEMPLATE_BYTES + 1);
    assert!(Template::compile(&big).is_err());
}

#[test]
fn runtime_failures_are_errors_not_panics() {
    let cases: &[(&str, &str)] = &[
        ("$input.path('$.a')", "not json"),
        ("#set($s = 'abc')$s.substring(5)", BODY),
        ("#set($l = [])$l.get(0)", BODY),
        ("$util.urlDecode('%zz')", BODY),
        ("$util.parseJson('{')", BODY),
        ("#set($s = 'a')$s.replaceAll('(', 'x')", BODY),
        ("#define($d)$d#end$d", BODY),
    ];
    for (t, body) in cases {
        let r = Template::compile(t).unwrap().render_to_string(&input(body));
        assert!(r.is_err(), "{t}: {r:?}");
    }
    let r = Template::compile("$input.json('$')")
        .unwrap()
        .render_to_string(&input("{"));
    assert!(matches!(r, Err(RenderError::InvalidBody(_))));
    // A computed JSONPath that is not one: the message quotes only its start (found by the
    // 60-second fuzz run, where a path built from a long list made a message of kilobytes).
    let r = Template::compile(r#"#set($l = [1..500])$input.json("$l ?")"#)
        .unwrap()
        .render_to_string(&input(BODY));
    match r {
        Err(RenderError::Method(m)) => {
            assert!(
                m.starts_with("$input.json: invalid JSONPath \"[1, 2, 3"),
                "{m}"
            );
            assert!(m.len() < 300 && m.contains('…'), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn growth_is_bounded() {
    // Doubling a string: stopped at the output limit, not by running out of memory.
    let t = Template::compile(
        "#set($s = 'xxxxxxxx')#foreach($i in [1..40])#set($s = \"$s$s\")#end$s.length()",
    )
    .unwrap();
    assert_eq!(t.render_to_string(&input(BODY)), Err(RenderError::TooLarge));
    // Nested loops: stopped by the step budget.
    let t = Template::compile(
        "#foreach($a in [1..1000])#foreach($b in [1..1000])#foreach($c in [1..1000])x#end#end#end",
    )
    .unwrap();
    assert!(t.render_to_string(&input(BODY)).is_err());
    // A list holding itself: printing stops at the depth limit; the render's heap frees it.
    let t = Template::compile("#set($l = [])#set($ok = $l.add($l))$l").unwrap();
    assert_eq!(t.render_to_string(&input(BODY)), Err(RenderError::TooDeep));
    let t = Template::compile("#set($r = [1..1000000])").unwrap();
    assert_eq!(
        t.render_to_string(&input(BODY)),
        Err(RenderError::TooManyItems)
    );
}
