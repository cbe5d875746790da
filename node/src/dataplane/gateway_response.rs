//! The data plane's one error surface: every answer the gateway makes itself (a refusal, or a
//! failure of one of the request's phases) is a gateway response of a [`GatewayResponseType`].
//!
//! A [`Refusal`] names the type and what AWS's defaults answer for it (status, message,
//! `x-amzn-ErrorType`). An API can override each type (PutGatewayResponse): its status, extra
//! headers and body template, compiled into [`CompiledGatewayResponses`]. A type the API does
//! not set falls back to its `DEFAULT_4XX`/`DEFAULT_5XX` override, and without one to AWS's
//! defaults. [`write`] renders the answer into the connection's output buffer without
//! allocating.

use super::http1::{write_content_length, write_header};
use super::respond::{write_common_head, ConnState, RequestId, ResponseContext};
use crate::text_rules::{is_header_name, is_header_value};
use tollgate_proto::GatewayResponseType;

/// A refusal the gateway makes: its gateway response type and AWS's default answer for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The gateway response type (what an API's override is looked up by).
    pub kind: GatewayResponseType,
    /// The status when the API does not override it.
    pub status: u16,
    /// The `x-amzn-ErrorType` header, where AWS sends one.
    pub error_type: Option<&'static str>,
    /// `$context.error.message`.
    pub message: &'static str,
}

const fn refusal(
    kind: GatewayResponseType,
    status: u16,
    error_type: &'static str,
    message: &'static str,
) -> Refusal {
    Refusal {
        kind,
        status,
        error_type: Some(error_type),
        message,
    }
}

use GatewayResponseType as T;

const INTERNAL: &str = "InternalServerErrorException";

/// The request names no API this node serves (or neither invocation form).
pub const UNKNOWN_API: Refusal =
    refusal(T::ResourceNotFound, 404, "NotFoundException", "Not Found");
/// The API's `execute-api` endpoint is turned off.
pub const EXECUTE_API_DISABLED: Refusal =
    refusal(T::AccessDenied, 403, "ForbiddenException", "Forbidden");
/// A custom domain request with no base path mapping for its path (or whose `Host` is not
/// the domain its TLS handshake named): AWS's 403.
pub const DOMAIN_FORBIDDEN: Refusal =
    refusal(T::AccessDenied, 403, "ForbiddenException", "Forbidden");
/// No such stage, resource or method: AWS's answer for all three.
pub const MISSING_AUTHENTICATION_TOKEN: Refusal = refusal(
    T::MissingAuthenticationToken,
    403,
    "MissingAuthenticationTokenException",
    "Missing Authentication Token",
);
/// The method asks for an authorization this node cannot perform (fails closed).
pub const AUTHORIZATION_NOT_SERVED: Refusal = refusal(
    T::AuthorizerConfigurationError,
    500,
    INTERNAL,
    "Internal server error",
);
/// The method has a request validator this node cannot apply (fails closed).
pub const VALIDATION_NOT_SERVED: Refusal = refusal(
    T::ApiConfigurationError,
    500,
    INTERNAL,
    "Internal server error",
);
/// No API key, an unknown or disabled one, or one whose plans do not cover the stage.
pub const INVALID_API_KEY: Refusal =
    refusal(T::InvalidApiKey, 403, "ForbiddenException", "Forbidden");
/// The request lacks parameters its method's validator requires (the message names them).
pub const BAD_REQUEST_PARAMETERS: Refusal = refusal(
    T::BadRequestParameters,
    400,
    "BadRequestException",
    "Missing required request parameters",
);
/// The request's body does not match its method's request model.
pub const BAD_REQUEST_BODY: Refusal = refusal(
    T::BadRequestBody,
    400,
    "BadRequestException",
    "Invalid request body",
);
/// A rate limit (plan, stage/method or account) refused the request.
pub const THROTTLED: Refusal = refusal(
    T::Throttled,
    429,
    "TooManyRequestsException",
    "Too Many Requests",
);
/// The key's plan quota is spent.
pub const QUOTA_EXCEEDED: Refusal = refusal(
    T::QuotaExceeded,
    429,
    "LimitExceededException",
    "Limit Exceeded",
);
/// `Cache-Control: max-age=0` without authorization, under the `FAIL_WITH_403` strategy.
pub const CACHE_CONTROL_DENIED: Refusal =
    refusal(T::AccessDenied, 403, "ForbiddenException", "Forbidden");
/// The integration cannot be served (no integration, or a setting the node does not serve),
/// or a MOCK integration has no response for the status its template selects.
pub const API_CONFIGURATION_ERROR: Refusal = refusal(
    T::ApiConfigurationError,
    500,
    INTERNAL,
    "Internal server error",
);
/// No mapping template for the request's content type, and the integration's passthrough
/// behavior does not pass the body through.
pub const UNSUPPORTED_MEDIA_TYPE: Refusal = refusal(
    T::UnsupportedMediaType,
    415,
    "UnsupportedMediaTypeException",
    "Unsupported Media Type",
);
/// A request body that inflates past the gateway's limit once its `Content-Encoding` is
/// decoded (AWS's REQUEST_TOO_LARGE, 413).
pub const REQUEST_BODY_TOO_LARGE: Refusal = Refusal {
    kind: T::RequestTooLarge,
    status: 413,
    error_type: None,
    message: "Request Entity Too Large",
};
/// The backend did not answer in the integration's timeout.
pub const INTEGRATION_TIMEOUT: Refusal = refusal(
    T::IntegrationTimeout,
    504,
    INTERNAL,
    "Endpoint request timed out",
);
/// The backend could not be reached or sent no valid answer. AWS's default status for
/// INTEGRATION_FAILURE is 504; Tollgate answers 502 (Bad Gateway), which tells a client the
/// backend failed rather than timed out.
pub const INTEGRATION_FAILURE: Refusal = refusal(
    T::IntegrationFailure,
    502,
    INTERNAL,
    "Internal server error",
);

impl Refusal {
    /// A refusal of the connection layer (a request it cannot parse, a timeout, no memory for
    /// the body), made before any API is known: no `x-amzn-ErrorType`, as today.
    pub const fn connection(status: u16, message: &'static str) -> Refusal {
        let kind = if status == 413 {
            T::RequestTooLarge
        } else if status >= 500 {
            T::Default5xx
        } else {
            T::Default4xx
        };
        Refusal {
            kind,
            status,
            error_type: None,
            message,
        }
    }
}

/// Whether `name` is a header the gateway frames the answer with, which no override may set.
pub fn is_framing_header(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

/// The value of a `'literal'` mapping expression (quotes stripped), the only kind of gateway
/// response parameter value served.
pub fn literal_value(expression: &str) -> Option<&str> {
    expression
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .filter(|_| expression.len() >= 2)
}

/// One piece of a body template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Box<str>),
    /// `$context.error.message`: the message as is.
    Message,
    /// `$context.error.messageString`: the message as a quoted JSON string.
    MessageString,
    /// `$context.error.responseType`.
    ResponseType,
    /// `$context.requestId`.
    RequestId,
}

/// A piece as the renderer walks it (so the default template needs no allocation).
#[derive(Clone, Copy)]
enum PieceRef<'a> {
    Text(&'a str),
    Message,
    MessageString,
    ResponseType,
    RequestId,
}

impl Piece {
    fn as_ref(&self) -> PieceRef<'_> {
        match self {
            Piece::Text(t) => PieceRef::Text(t),
            Piece::Message => PieceRef::Message,
            Piece::MessageString => PieceRef::MessageString,
            Piece::ResponseType => PieceRef::ResponseType,
            Piece::RequestId => PieceRef::RequestId,
        }
    }
}

/// AWS's default body, `{"message":$context.error.messageString}`.
const DEFAULT_BODY: [PieceRef<'static>; 3] = [
    PieceRef::Text("{\"message\":"),
    PieceRef::MessageString,
    PieceRef::Text("}"),
];

/// The variables a template may use, longest first where one is a prefix of another.
const VARIABLES: [(&str, Piece); 4] = [
    ("$context.error.messageString", Piece::MessageString),
    ("$context.error.message", Piece::Message),
    ("$context.error.responseType", Piece::ResponseType),
    ("$context.requestId", Piece::RequestId),
];

/// A body template, split once at compile time into text and the variables it substitutes.
/// Any other `$…` is left as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Splits `source` into text and variables.
    pub fn parse(source: &str) -> Template {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        while let Some(at) = rest.find('$') {
            text.push_str(&rest[..at]);
            rest = &rest[at..];
            match VARIABLES.iter().find(|(name, _)| rest.starts_with(name)) {
                Some((name, piece)) => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text).into()));
                    }
                    pieces.push(piece.clone());
                    rest = &rest[name.len()..];
                }
                None => {
                    text.push('$');
                    rest = &rest[1..];
                }
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text.into()));
        }
        Template { pieces }
    }
}

/// An API's override of one gateway response type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompiledGatewayResponse {
    /// The status to answer with instead of the refusal's.
    pub status: Option<u16>,
    /// Header fields added to the answer (static values; checked by [`Self::add_header`]).
    headers: Vec<(Box<str>, Box<str>)>,
    /// The body template; `None`: AWS's default body.
    pub body: Option<Template>,
}

impl CompiledGatewayResponse {
    /// An override of the status and body (`None`: the refusal's, AWS's default body), with no
    /// headers yet.
    pub fn new(status: Option<u16>, body: Option<Template>) -> Self {
        CompiledGatewayResponse {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// Adds a header field; refuses a name that is not an HTTP token or a value with control
    /// characters (which would split the answer), and the framing headers the gateway writes.
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<(), &'static str> {
        if !is_header_name(name) {
            return Err("a response header name must be an HTTP token");
        }
        if !is_header_value(value) {
            return Err("a response header value must not hold control characters");
        }
        if is_framing_header(name) {
            return Err("this response header is the gateway's to set");
        }
        self.headers.push((name.into(), value.into()));
        Ok(())
    }

    /// The extra header fields.
    pub fn headers(&self) -> &[(Box<str>, Box<str>)] {
        &self.headers
    }
}

/// An API's gateway response overrides, by type; empty: AWS's defaults for every type.
#[derive(Debug, Default)]
pub struct CompiledGatewayResponses {
    by_type: [Option<CompiledGatewayResponse>; GatewayResponseType::ALL.len()],
}

impl CompiledGatewayResponses {
    /// Sets the override of `kind`.
    pub fn set(&mut self, kind: GatewayResponseType, r: CompiledGatewayResponse) {
        self.by_type[kind as usize] = Some(r);
    }

    /// The override that applies to a refusal of `kind`: its own, else its fallback's
    /// (`DEFAULT_4XX`/`DEFAULT_5XX` by the type's default status), else none.
    pub fn effective(&self, kind: GatewayResponseType) -> Option<&CompiledGatewayResponse> {
        self.by_type[kind as usize].as_ref().or_else(|| {
            kind.fallback()
                .and_then(|f| self.by_type[f as usize].as_ref())
        })
    }
}

/// Writes the gateway's answer for `refusal`, as the API's `overrides` shape it (`None`: AWS's
/// defaults, for refusals made before an API is known), with `extra` header fields (e.g.
/// `Retry-After`).
#[allow(clippy::too_many_arguments)]
pub fn write(
    out: &mut Vec<u8>,
    ctx: &mut ResponseContext,
    refusal: &Refusal,
    overrides: Option<&CompiledGatewayResponses>,
    request_id: &RequestId,
    conn: ConnState,
    extra: &[(&[u8], &[u8])],
) {
    write_message(
        out,
        ctx,
        refusal,
        refusal.message,
        overrides,
        request_id,
        conn,
        extra,
    )
}

/// [`write`] with a message of its own for `$context.error.message` (e.g. the parameters a
/// request lacks) in place of the refusal's fixed one.
#[allow(clippy::too_many_arguments)]
pub fn write_message(
    out: &mut Vec<u8>,
    ctx: &mut ResponseContext,
    refusal: &Refusal,
    message: &str,
    overrides: Option<&CompiledGatewayResponses>,
    request_id: &RequestId,
    conn: ConnState,
    extra: &[(&[u8], &[u8])],
) {
    let custom = overrides.and_then(|o| o.effective(refusal.kind));
    let status = custom.and_then(|c| c.status).unwrap_or(refusal.status);
    write_common_head(out, ctx, status, request_id, conn);
    for (n, v) in extra {
        write_header(out, n, v);
    }
    let mut content_type_set = false;
    for (n, v) in custom.map(|c| c.headers()).unwrap_or_default() {
        content_type_set |= n.eq_ignore_ascii_case("content-type");
        write_header(out, n.as_bytes(), v.as_bytes());
    }
    if let Some(t) = refusal.error_type {
        write_header(out, b"x-amzn-ErrorType", t.as_bytes());
    }
    if !content_type_set {
        write_header(out, b"Content-Type", b"application/json");
    }
    let vars = Vars {
        refusal,
        message,
        request_id,
    };
    match custom.and_then(|c| c.body.as_ref()) {
        Some(t) => write_body(out, t.pieces.iter().map(Piece::as_ref), &vars),
        None => write_body(out, DEFAULT_BODY.iter().copied(), &vars),
    }
}

struct Vars<'a> {
    refusal: &'a Refusal,
    /// `$context.error.message`.
    message: &'a str,
    request_id: &'a RequestId,
}

/// Writes `Content-Length`, the blank line and the body the pieces make: measured first, then
/// written, so nothing is buffered on the side.
fn write_body<'a>(out: &mut Vec<u8>, pieces: impl Iterator<Item = PieceRef<'a>> + Clone, v: &Vars) {
    let mut len = 0;
    for p in pieces.clone() {
        render(p, v, &mut |b| len += b.len());
    }
    write_content_length(out, len);
    out.extend_from_slice(b"\r\n");
    for p in pieces {
        render(p, v, &mut |b| out.extend_from_slice(b));
    }
}

fn render(p: PieceRef<'_>, v: &Vars, sink: &mut impl FnMut(&[u8])) {
    match p {
        PieceRef::Text(t) => sink(t.as_bytes()),
        PieceRef::Message => sink(v.message.as_bytes()),
        PieceRef::MessageString => {
            sink(b"\"");
            json_escape(v.message, sink);
            sink(b"\"");
        }
        PieceRef::ResponseType => sink(v.refusal.kind.as_str().as_bytes()),
        PieceRef::RequestId => sink(v.request_id.as_bytes()),
    }
}

/// Writes `s` escaped for the inside of a JSON string.
fn json_escape(s: &str, sink: &mut impl FnMut(&[u8])) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => &[],
            _ => continue,
        };
        sink(&bytes[from..i]);
        if esc.is_empty() {
            sink(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        } else {
            sink(esc);
        }
        from = i + 1;
    }
    sink(&bytes[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    fn answer(
        r: &Refusal,
        o: Option<&CompiledGatewayResponses>,
        extra: &[(&[u8], &[u8])],
    ) -> (Answer, String) {
        let mut ctx = ResponseContext::new();
        let id = ctx.request_id();
        let mut out = Vec::new();
        write(&mut out, &mut ctx, r, o, &id, ConnState::KeepAlive11, extra);
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_string(), v.to_string())
            })
            .collect();
        let a = Answer {
            status,
            headers,
            body: body.to_string(),
        };
        assert_eq!(
            a.header("content-length").unwrap(),
            a.body.len().to_string(),
            "length matches the body"
        );
        (a, id.as_str().to_string())
    }

    /// Every refusal the data plane makes: its type, and today's status, error type and message.
    #[test]
    fn defaults_are_todays_answers() {
        let table: &[(Refusal, &str, u16, Option<&str>, &str)] = &[
            (
                UNKNOWN_API,
                "RESOURCE_NOT_FOUND",
                404,
                Some("NotFoundException"),
                "Not Found",
            ),
            (
                EXECUTE_API_DISABLED,
                "ACCESS_DENIED",
                403,
                Some("ForbiddenException"),
                "Forbidden",
            ),
            (
                MISSING_AUTHENTICATION_TOKEN,
                "MISSING_AUTHENTICATION_TOKEN",
                403,
                Some("MissingAuthenticationTokenException"),
                "Missing Authentication Token",
            ),
            (
                AUTHORIZATION_NOT_SERVED,
                "AUTHORIZER_CONFIGURATION_ERROR",
                500,
                Some(INTERNAL),
                "Internal server error",
            ),
            (
                VALIDATION_NOT_SERVED,
                "API_CONFIGURATION_ERROR",
                500,
                Some(INTERNAL),
                "Internal server error",
            ),
            (
                INVALID_API_KEY,
                "INVALID_API_KEY",
                403,
                Some("ForbiddenException"),
                "Forbidden",
            ),
            (
                THROTTLED,
                "THROTTLED",
                429,
                Some("TooManyRequestsException"),
                "Too Many Requests",
            ),
            (
                QUOTA_EXCEEDED,
                "QUOTA_EXCEEDED",
                429,
                Some("LimitExceededException"),
                "Limit Exceeded",
            ),
            (
                CACHE_CONTROL_DENIED,
                "ACCESS_DENIED",
                403,
                Some("ForbiddenException"),
                "Forbidden",
            ),
            (
                API_CONFIGURATION_ERROR,
                "API_CONFIGURATION_ERROR",
                500,
                Some(INTERNAL),
                "Internal server error",
            ),
            (
                INTEGRATION_TIMEOUT,
                "INTEGRATION_TIMEOUT",
                504,
                Some(INTERNAL),
                "Endpoint request timed out",
            ),
            (
                INTEGRATION_FAILURE,
                "INTEGRATION_FAILURE",
                502,
                Some(INTERNAL),
                "Internal server error",
            ),
            (
                Refusal::connection(400, "Bad Request"),
                "DEFAULT_4XX",
                400,
                None,
                "Bad Request",
            ),
            (
                Refusal::connection(408, "Request Timeout"),
                "DEFAULT_4XX",
                408,
                None,
                "Request Timeout",
            ),
            (
                Refusal::connection(413, "Payload Too Large"),
                "REQUEST_TOO_LARGE",
                413,
                None,
                "Payload Too Large",
            ),
            (
                Refusal::connection(503, "Service Unavailable"),
                "DEFAULT_5XX",
                503,
                None,
                "Service Unavailable",
            ),
        ];
        let empty = CompiledGatewayResponses::default();
        for &(r, kind, status, error_type, message) in table {
            assert_eq!(r.kind.as_str(), kind, "{r:?}");
            // With no override table and with an empty one, the same answer.
            for o in [None, Some(&empty)] {
                let (a, _) = answer(&r, o, &[]);
                assert_eq!(a.status, status, "{r:?}");
                assert_eq!(a.header("x-amzn-ErrorType"), error_type, "{r:?}");
                assert_eq!(a.header("content-type"), Some("application/json"));
                assert_eq!(a.body, format!("{{\"message\":\"{message}\"}}"), "{r:?}");
            }
        }
    }

    #[test]
    fn extra_headers_are_written() {
        let (a, _) = answer(
            &Refusal::connection(503, "Service Unavailable"),
            None,
            &[(b"Retry-After", b"1")],
        );
        assert_eq!(a.header("retry-after"), Some("1"));
    }

    #[test]
    fn override_sets_status_headers_and_template() {
        let mut o = CompiledGatewayResponses::default();
        let mut r = CompiledGatewayResponse {
            status: Some(418),
            body: Some(Template::parse(
                "{\"m\":$context.error.messageString,\"raw\":\"$context.error.message\",\
                 \"t\":\"$context.error.responseType\",\"id\":\"$context.requestId\",\"x\":\"$other\"}",
            )),
            ..Default::default()
        };
        r.add_header("Access-Control-Allow-Origin", "*").unwrap();
        o.set(T::Throttled, r);
        let (a, id) = answer(&THROTTLED, Some(&o), &[]);
        assert_eq!(a.status, 418);
        assert_eq!(a.header("access-control-allow-origin"), Some("*"));
        assert_eq!(
            a.header("x-amzn-ErrorType"),
            Some("TooManyRequestsException")
        );
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["m"], "Too Many Requests");
        assert_eq!(v["raw"], "Too Many Requests");
        assert_eq!(v["t"], "THROTTLED");
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["x"], "$other");
        // Another type is untouched.
        let (b, _) = answer(&QUOTA_EXCEEDED, Some(&o), &[]);
        assert_eq!(
            (b.status, b.body.as_str()),
            (429, "{\"message\":\"Limit Exceeded\"}")
        );
    }

    #[test]
    fn unset_types_fall_back_to_default_4xx_and_5xx() {
        let mut o = CompiledGatewayResponses::default();
        let mut four = CompiledGatewayResponse::default();
        four.add_header("X-Four", "yes").unwrap();
        o.set(T::Default4xx, four);
        let five = CompiledGatewayResponse {
            status: Some(503),
            body: Some(Template::parse(
                "{\"error\":\"$context.error.responseType\"}",
            )),
            ..Default::default()
        };
        o.set(T::Default5xx, five);
        // A 4xx type: DEFAULT_4XX's header, its own status and the default body.
        let (a, _) = answer(&INVALID_API_KEY, Some(&o), &[]);
        assert_eq!((a.status, a.header("x-four")), (403, Some("yes")));
        assert_eq!(a.body, "{\"message\":\"Forbidden\"}");
        // A 5xx type (by its AWS default, 504, though answered 502): DEFAULT_5XX.
        let (b, _) = answer(&INTEGRATION_FAILURE, Some(&o), &[]);
        assert_eq!((b.status, b.header("x-four")), (503, None));
        assert_eq!(b.body, "{\"error\":\"INTEGRATION_FAILURE\"}");
        // The type's own override wins over the fallback.
        o.set(
            T::IntegrationFailure,
            CompiledGatewayResponse {
                status: Some(599),
                ..Default::default()
            },
        );
        let (c, _) = answer(&INTEGRATION_FAILURE, Some(&o), &[]);
        assert_eq!(c.status, 599);
        assert_eq!(c.body, "{\"message\":\"Internal server error\"}");
    }

    #[test]
    fn message_string_is_json_escaped() {
        let r = Refusal {
            message: "a \"quoted\" \\ line\nand\u{1}",
            ..THROTTLED
        };
        let (a, _) = answer(&r, None, &[]);
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["message"], r.message);
    }

    #[test]
    fn an_override_content_type_replaces_the_default() {
        let mut o = CompiledGatewayResponses::default();
        let mut r = CompiledGatewayResponse {
            body: Some(Template::parse("busy")),
            ..Default::default()
        };
        r.add_header("Content-Type", "text/plain").unwrap();
        o.set(T::Throttled, r);
        let (a, _) = answer(&THROTTLED, Some(&o), &[]);
        assert_eq!(a.header("content-type"), Some("text/plain"));
        assert_eq!(
            a.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .count(),
            1
        );
        assert_eq!(a.body, "busy");
    }

    #[test]
    fn header_overrides_that_could_split_the_answer_are_refused() {
        let mut r = CompiledGatewayResponse::default();
        assert!(r.add_header("X-A", "a\r\nSet-Cookie: x").is_err());
        assert!(r.add_header("X A", "a").is_err());
        assert!(r.add_header("", "a").is_err());
        assert!(r.add_header("Content-Length", "1").is_err());
        assert!(r.add_header("X-A", "a\tb").is_ok());
        assert_eq!(r.headers().len(), 1);
    }

    #[test]
    fn templates_split_at_known_variables_only() {
        let t = Template::parse("$$context.requestId$context.error.messageStringx$");
        assert_eq!(
            t.pieces,
            vec![
                Piece::Text("$".into()),
                Piece::RequestId,
                Piece::MessageString,
                Piece::Text("x$".into()),
            ]
        );
        assert_eq!(Template::parse("").pieces, vec![]);
    }
}
