//! Tracing a request through a stage whose `tracingEnabled` is on, with no I/O: reading the
//! caller's trace context (W3C `traceparent`, else X-Ray's `X-Amzn-Trace-Id`), writing the
//! context the backend or function is given, and the spans the node exports
//! ([`crate::otlp`] sends them to an OTLP/HTTP collector).
//!
//! The gateway is one hop of the trace: its SERVER span is the child of the caller's span (or a
//! trace root), and the integration call is a CLIENT span under it, whose id is the parent the
//! backend sees. The trace id is X-Ray compatible: a new one starts with the epoch seconds, so
//! the same id reads as `Root=1-{8 hex}-{24 hex}` in `X-Amzn-Trace-Id`.

/// Length of a `traceparent` value (`00-{32 hex}-{16 hex}-{2 hex}`).
pub const TRACEPARENT_LEN: usize = 55;
/// Length of the `X-Amzn-Trace-Id` value this gateway writes
/// (`Root=1-{8}-{24};Parent={16};Sampled={0|1}`).
pub const AMZN_TRACE_ID_LEN: usize = 74;

/// A request's place in its trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace.
    pub trace_id: [u8; 16],
    /// The caller's span, when the caller sent a context.
    pub parent: Option<[u8; 8]>,
    /// The gateway's SERVER span.
    pub span_id: [u8; 8],
    /// The integration call's CLIENT span (the parent the backend sees).
    pub client_span_id: [u8; 8],
    /// Whether the trace is recorded (the caller's flag; new traces are).
    pub sampled: bool,
}

/// Where the caller's context came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A valid `traceparent`.
    W3c,
    /// A valid `X-Amzn-Trace-Id` (and no valid `traceparent`).
    XRay,
    /// None: a new trace.
    New,
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Lower-case hex into `out` (`s` must be exactly twice `out`'s length).
fn unhex(s: &[u8], out: &mut [u8]) -> Option<()> {
    if s.len() != out.len() * 2 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = hex_val(s[2 * i])? << 4 | hex_val(s[2 * i + 1])?;
    }
    Some(())
}

/// Lower-case hex of `b` into `out` (twice `b`'s length).
fn put_hex(b: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, x) in b.iter().enumerate() {
        out[2 * i] = HEX[(x >> 4) as usize];
        out[2 * i + 1] = HEX[(x & 15) as usize];
    }
}

/// Parses a W3C `traceparent` (trace id, parent id, sampled). Version `00` must be exactly 55
/// characters; a later version may carry more after the flags (the first four fields are
/// read, as the recommendation says); version `ff`, upper-case hex and all-zero ids are invalid.
pub fn parse_traceparent(v: &[u8]) -> Option<([u8; 16], [u8; 8], bool)> {
    if v.len() < TRACEPARENT_LEN {
        return None;
    }
    let mut version = [0u8; 1];
    unhex(&v[0..2], &mut version)?;
    if version[0] == 0xff || (version[0] == 0 && v.len() != TRACEPARENT_LEN) {
        return None;
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    if v.len() > TRACEPARENT_LEN && v[TRACEPARENT_LEN] != b'-' {
        return None;
    }
    let (mut trace, mut parent, mut flags) = ([0u8; 16], [0u8; 8], [0u8; 1]);
    unhex(&v[3..35], &mut trace)?;
    unhex(&v[36..52], &mut parent)?;
    unhex(&v[53..55], &mut flags)?;
    if trace == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace, parent, flags[0] & 1 == 1))
}

/// Parses X-Ray's `X-Amzn-Trace-Id` (`Root=1-{8 hex}-{24 hex}[;Parent={16 hex}][;Sampled=0|1]`,
/// fields in any order, others ignored): the trace id, the parent if given, and the sampled
/// flag (absent or `?`: sampled).
pub fn parse_amzn_trace_id(v: &[u8]) -> Option<([u8; 16], Option<[u8; 8]>, bool)> {
    let mut root = None;
    let mut parent = None;
    let mut sampled = true;
    for field in v.split(|&c| c == b';') {
        let field = field.trim_ascii();
        if let Some(r) = field.strip_prefix(b"Root=") {
            // 1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY
            if r.len() != 35 || &r[..2] != b"1-" || r[10] != b'-' {
                return None;
            }
            let mut id = [0u8; 16];
            unhex(&r[2..10], &mut id[..4])?;
            unhex(&r[11..35], &mut id[4..])?;
            root = Some(id);
        } else if let Some(p) = field.strip_prefix(b"Parent=") {
            let mut id = [0u8; 8];
            unhex(p, &mut id)?;
            parent = Some(id);
        } else if let Some(s) = field.strip_prefix(b"Sampled=") {
            sampled = s != b"0";
        }
    }
    let root = root.filter(|r| *r != [0; 16])?;
    Some((root, parent.filter(|p| *p != [0; 8]), sampled))
}

/// A source of random ids (the worker's fast generator).
pub trait Ids {
    /// 64 random bits.
    fn next_u64(&mut self) -> u64;
}

fn nonzero_span(ids: &mut impl Ids) -> [u8; 8] {
    loop {
        let v = ids.next_u64();
        if v != 0 {
            return v.to_be_bytes();
        }
    }
}

/// The request's context from its `traceparent` and `X-Amzn-Trace-Id` headers: continues
/// the caller's trace (`traceparent` first), else starts one whose id begins with `epoch_secs`.
pub fn start(
    traceparent: Option<&[u8]>,
    amzn_trace_id: Option<&[u8]>,
    epoch_secs: u64,
    ids: &mut impl Ids,
) -> (TraceContext, Origin) {
    let from_w3c = traceparent.and_then(parse_traceparent);
    let (trace_id, parent, sampled, origin) = if let Some((t, p, s)) = from_w3c {
        (t, Some(p), s, Origin::W3c)
    } else if let Some((t, p, s)) = amzn_trace_id.and_then(parse_amzn_trace_id) {
        (t, p, s, Origin::XRay)
    } else {
        let mut t = [0u8; 16];
        t[..4].copy_from_slice(&(epoch_secs as u32).to_be_bytes());
        t[4..12].copy_from_slice(&ids.next_u64().to_be_bytes());
        t[12..].copy_from_slice(&(ids.next_u64() as u32 | 1).to_be_bytes());
        (t, None, true, Origin::New)
    };
    let span_id = nonzero_span(ids);
    let client_span_id = nonzero_span(ids);
    let ctx = TraceContext {
        trace_id,
        parent,
        span_id,
        client_span_id,
        sampled,
    };
    (ctx, origin)
}

impl TraceContext {
    /// The `traceparent` the backend is sent: this trace, the CLIENT span as parent.
    pub fn traceparent(&self) -> [u8; TRACEPARENT_LEN] {
        let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
        put_hex(&self.trace_id, &mut out[3..35]);
        put_hex(&self.client_span_id, &mut out[36..52]);
        if self.sampled {
            out[54] = b'1';
        }
        out
    }

    /// The `X-Amzn-Trace-Id` the backend is sent (the same trace and parent, X-Ray's form).
    pub fn amzn_trace_id(&self) -> [u8; AMZN_TRACE_ID_LEN] {
        let mut out =
            *b"Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0";
        put_hex(&self.trace_id[..4], &mut out[7..15]);
        put_hex(&self.trace_id[4..], &mut out[16..40]);
        put_hex(&self.client_span_id, &mut out[48..64]);
        if self.sampled {
            out[73] = b'1';
        }
        out
    }

    /// The trace id in hex (32 characters).
    pub fn trace_hex(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        put_hex(&self.trace_id, &mut out);
        out
    }
}

/// Length of a bare X-Ray root (`Root=1-{8 hex}-{24 hex}`).
pub const ROOT_LEN: usize = 40;

/// The `X-Amzn-Trace-Id` an integration of an untraced stage is sent, as AWS sends one on
/// every integration request: the caller's when it is valid (`None`: pass it as it came),
/// else a new root whose id begins with `epoch_secs`.
pub fn untraced_root(
    caller: Option<&[u8]>,
    epoch_secs: u64,
    ids: &mut impl Ids,
) -> Option<[u8; ROOT_LEN]> {
    if caller.and_then(parse_amzn_trace_id).is_some() {
        return None;
    }
    let mut out = *b"Root=1-00000000-000000000000000000000000";
    put_hex(&(epoch_secs as u32).to_be_bytes(), &mut out[7..15]);
    put_hex(&ids.next_u64().to_be_bytes(), &mut out[16..32]);
    put_hex(&(ids.next_u64() as u32 | 1).to_be_bytes(), &mut out[32..40]);
    Some(out)
}

/// Whether a header is one the gateway replaces with its own context on a traced stage.
pub fn is_trace_header(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"traceparent") || name.eq_ignore_ascii_case(b"x-amzn-trace-id")
}

/// The headers a traced request's backend or function is given, instead of the caller's.
#[derive(Debug, Clone, Copy)]
pub struct Propagate {
    /// `traceparent`.
    pub traceparent: [u8; TRACEPARENT_LEN],
    /// `X-Amzn-Trace-Id`.
    pub amzn: [u8; AMZN_TRACE_ID_LEN],
}

impl Propagate {
    /// The headers for `ctx`.
    pub fn of(ctx: &TraceContext) -> Self {
        Propagate {
            traceparent: ctx.traceparent(),
            amzn: ctx.amzn_trace_id(),
        }
    }

    /// As (name, value) pairs.
    pub fn headers(&self) -> [(&'static [u8], &[u8]); 2] {
        [
            (b"traceparent", &self.traceparent[..]),
            (b"X-Amzn-Trace-Id", &self.amzn[..]),
        ]
    }
}

/// What kind of span (OTLP's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// The gateway's handling of the request.
    Server = 2,
    /// The call to the integration.
    Client = 3,
}

/// A finished span, owned so it can cross to the exporter thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The trace.
    pub trace_id: [u8; 16],
    /// This span.
    pub span_id: [u8; 8],
    /// Its parent, if any.
    pub parent: Option<[u8; 8]>,
    /// SERVER or CLIENT.
    pub kind: SpanKind,
    /// `{METHOD} {resource path}` (the route, not the raw path: bounded cardinality).
    pub name: String,
    /// Start, nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end_ns: u64,
    /// The status answered (SERVER) or received (CLIENT; 0 when the call failed).
    pub status: u16,
    /// String attributes (API id, stage, request id, ...).
    pub attributes: Vec<(&'static str, String)>,
}

/// The two spans of a traced request: the gateway's SERVER span and, when an integration was
/// called, its CLIENT span (`integration`: start and end, ns since the epoch, and the status
/// it answered, 0 if none).
pub fn spans(
    ctx: &TraceContext,
    name: &str,
    server: (u64, u64, u16),
    integration: Option<(u64, u64, u16)>,
    attributes: Vec<(&'static str, String)>,
) -> Vec<Span> {
    let mut out = Vec::with_capacity(2);
    out.push(Span {
        trace_id: ctx.trace_id,
        span_id: ctx.span_id,
        parent: ctx.parent,
        kind: SpanKind::Server,
        name: name.to_string(),
        start_ns: server.0,
        end_ns: server.1.max(server.0),
        status: server.2,
        attributes: attributes.clone(),
    });
    if let Some((start, end, status)) = integration {
        out.push(Span {
            trace_id: ctx.trace_id,
            span_id: ctx.client_span_id,
            parent: Some(ctx.span_id),
            kind: SpanKind::Client,
            name: format!("{name} integration"),
            start_ns: start,
            end_ns: end.max(start),
            status,
            attributes,
        });
    }
    out
}

/// Encodes spans as an OTLP/HTTP JSON `ExportTraceServiceRequest` (ids in lower-case hex, times
/// as decimal strings, as the OTLP JSON mapping specifies).
pub fn otlp_json(spans: &[Span], service_instance: &str) -> Vec<u8> {
    use serde_json::{json, Value};
    let attr = |k: &str, v: Value| json!({"key": k, "value": v});
    let hex = |b: &[u8]| {
        let mut s = vec![0u8; b.len() * 2];
        put_hex(b, &mut s);
        String::from_utf8(s).unwrap_or_default()
    };
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut attributes: Vec<Value> = s
                .attributes
                .iter()
                .map(|(k, v)| attr(k, json!({ "stringValue": v })))
                .collect();
            if s.status != 0 {
                attributes.push(attr(
                    "http.response.status_code",
                    json!({ "intValue": s.status.to_string() }),
                ));
            }
            // OTLP status: ERROR for a 5xx (or a failed call), unset otherwise, as the HTTP
            // semantic conventions say for servers (4xx is the client's error).
            let error = s.status >= 500 || (s.kind == SpanKind::Client && s.status == 0);
            let mut span = json!({
                "traceId": hex(&s.trace_id),
                "spanId": hex(&s.span_id),
                "name": s.name,
                "kind": s.kind as u8,
                "startTimeUnixNano": s.start_ns.to_string(),
                "endTimeUnixNano": s.end_ns.to_string(),
                "attributes": attributes,
                "status": if error { json!({"code": 2}) } else { json!({}) },
            });
            if let Some(p) = s.parent {
                span["parentSpanId"] = json!(hex(&p));
            }
            span
        })
        .collect();
    let body = json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                attr("service.name", json!({"stringValue": "tollgate"})),
                attr("service.instance.id", json!({"stringValue": service_instance})),
            ]},
            "scopeSpans": [{
                "scope": {"name": "tollgate", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans,
            }],
        }],
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Seq(u64);
    impl Ids for Seq {
        fn next_u64(&mut self) -> u64 {
            self.0 += 1;
            self.0
        }
    }

    const TP: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_is_read_as_the_recommendation_says() {
        let (t, p, s) = parse_traceparent(TP).unwrap();
        assert_eq!(t[0], 0x4b);
        assert_eq!(p, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert!(s);
        let unsampled = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert!(!parse_traceparent(unsampled).unwrap().2);
        // A later version may append fields; version 00 may not.
        let v1 = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(parse_traceparent(v1).is_some());
        let bad: [&[u8]; 8] = [
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"",
        ];
        for b in bad {
            assert_eq!(parse_traceparent(b), None, "{}", String::from_utf8_lossy(b));
        }
    }

    #[test]
    fn xray_header_is_read_in_any_order() {
        let v = b"Sampled=0; Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";
        let (t, p, s) = parse_amzn_trace_id(v).unwrap();
        assert_eq!(&t[..4], &[0x57, 0x59, 0xe9, 0x88]);
        assert_eq!(t[4], 0xbd);
        assert_eq!(p, Some([0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8]));
        assert!(!s);
        let root_only = b"Root=1-5759e988-bd862e3fe1be46a994272793";
        assert_eq!(parse_amzn_trace_id(root_only).unwrap().1, None);
        assert!(parse_amzn_trace_id(root_only).unwrap().2);
        for bad in [
            &b"Root=2-5759e988-bd862e3fe1be46a994272793"[..],
            b"Root=1-5759e988bd862e3fe1be46a994272793",
            b"Parent=53995c3f42cd8ad8",
            b"Root=1-5759e988-bd862e3fe1be46a99427279",
            b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=zz",
        ] {
            assert_eq!(parse_amzn_trace_id(bad), None);
        }
    }

    #[test]
    fn the_backend_sees_the_client_span_as_parent_in_both_forms() {
        let ctx = TraceContext {
            trace_id: *b"\x57\x59\xe9\x88\xbd\x86\x2e\x3f\xe1\xbe\x46\xa9\x94\x27\x27\x93",
            parent: None,
            span_id: [1; 8],
            client_span_id: [0xab; 8],
            sampled: true,
        };
        assert_eq!(
            &ctx.traceparent(),
            b"00-5759e988bd862e3fe1be46a994272793-abababababababab-01"
        );
        assert_eq!(
            &ctx.amzn_trace_id(),
            b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=abababababababab;Sampled=1"
        );
        // Each form reads back as the same trace and parent.
        let (t, p, _) = parse_traceparent(&ctx.traceparent()).unwrap();
        let (t2, p2, s2) = parse_amzn_trace_id(&ctx.amzn_trace_id()).unwrap();
        assert_eq!((t, Some(p)), (t2, p2));
        assert!(s2);
        let off = TraceContext {
            sampled: false,
            ..ctx
        };
        assert!(off.traceparent().ends_with(b"-00"));
        assert!(off.amzn_trace_id().ends_with(b"Sampled=0"));
    }

    #[test]
    fn a_request_continues_the_callers_trace_or_starts_one() {
        let xray = b"Root=1-5759e988-bd862e3fe1be46a994272793";
        let (ctx, origin) = start(Some(TP), Some(xray), 0, &mut Seq(0));
        assert_eq!(origin, Origin::W3c);
        assert_eq!(ctx.trace_id, parse_traceparent(TP).unwrap().0);
        assert_eq!(ctx.parent, Some(parse_traceparent(TP).unwrap().1));
        assert_ne!(ctx.span_id, ctx.client_span_id);
        // An invalid traceparent falls back to X-Ray's header.
        let xray = b"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0";
        let (ctx, origin) = start(Some(b"garbage"), Some(xray), 0, &mut Seq(0));
        assert_eq!(origin, Origin::XRay);
        assert_eq!(ctx.parent, None);
        assert!(!ctx.sampled);
        // None: a new, sampled trace whose id starts with the epoch seconds (X-Ray's form).
        let (ctx, origin) = start(None, None, 0x5759_e988, &mut Seq(7));
        assert_eq!(origin, Origin::New);
        assert!(ctx.sampled);
        assert_eq!(&ctx.trace_id[..4], &[0x57, 0x59, 0xe9, 0x88]);
        assert!(ctx.amzn_trace_id().starts_with(b"Root=1-5759e988-"));
    }

    #[test]
    fn untraced_stages_keep_a_valid_caller_root_or_make_one() {
        let valid = b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";
        assert_eq!(untraced_root(Some(valid), 1, &mut Seq(0)), None);
        for caller in [None, Some(&b"garbage"[..])] {
            let root = untraced_root(caller, 0x5759_e988, &mut Seq(0)).unwrap();
            assert!(root.starts_with(b"Root=1-5759e988-"));
            assert!(parse_amzn_trace_id(&root).is_some());
        }
    }

    #[test]
    fn spans_encode_as_otlp_json() {
        let ctx = TraceContext {
            trace_id: [0x11; 16],
            parent: Some([0x22; 8]),
            span_id: [0x33; 8],
            client_span_id: [0x44; 8],
            sampled: true,
        };
        let spans = spans(
            &ctx,
            "GET /pets/{petId}",
            (1_000, 9_000, 502),
            Some((2_000, 8_000, 0)),
            vec![("aws.api_gateway.stage", "prod".to_string())],
        );
        let v: serde_json::Value = serde_json::from_slice(&otlp_json(&spans, "node-1")).unwrap();
        let rs = &v["resourceSpans"][0];
        assert_eq!(
            rs["resource"]["attributes"][0]["value"]["stringValue"],
            "tollgate"
        );
        let s = &rs["scopeSpans"][0]["spans"];
        assert_eq!(s[0]["traceId"], "11111111111111111111111111111111");
        assert_eq!(s[0]["spanId"], "3333333333333333");
        assert_eq!(s[0]["parentSpanId"], "2222222222222222");
        assert_eq!(s[0]["kind"], 2);
        assert_eq!(s[0]["startTimeUnixNano"], "1000");
        assert_eq!(s[0]["endTimeUnixNano"], "9000");
        assert_eq!(s[0]["status"]["code"], 2);
        assert_eq!(s[0]["attributes"][1]["value"]["intValue"], "502");
        assert_eq!(s[1]["parentSpanId"], "3333333333333333");
        assert_eq!(s[1]["spanId"], "4444444444444444");
        assert_eq!(s[1]["kind"], 3);
        assert_eq!(s[1]["name"], "GET /pets/{petId} integration");
    }
}
