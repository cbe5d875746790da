//! Phase 12: the method response: a MOCK integration response's template rendered when it
//! reads request data (else its precompiled bytes), and writing the client answer (a MOCK
//! response, a cached answer or the backend's) into the connection's output buffer, with the
//! headers every answer carries. Refusals are written by
//! [`crate::dataplane::gateway_response`].

use super::integration_request::LazyData;
use crate::dataplane::cache::CachedResponse;
use crate::dataplane::content;
use crate::dataplane::http1::{
    is_hop_by_hop, response_has_no_body, write_chunked_body, write_content_length, write_header,
    write_status_line,
};
use crate::dataplane::lambda::response::Reply;
use crate::dataplane::mock::{self, MockError, MockIntegration, MockResponse, ResponseBody};
use crate::dataplane::remap;
use crate::dataplane::respond::{write_common_head, ConnState, RequestId, ResponseContext};
use crate::dataplane::routing::RenderedResponse;
use crate::dataplane::upstream::{BodyAt, ProxyScratch};
use std::borrow::Cow;

/// How the answer is framed for this client.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    /// How the connection goes on after the answer.
    pub conn: ConnState,
    /// The request was HEAD: no body.
    pub head_req: bool,
    /// The client speaks HTTP/1.1 (a chunked backend answer may stay chunked).
    pub http11: bool,
}

/// A MOCK integration response's answer: its bytes when its template reads no request data,
/// else the template rendered over the request's data (a MOCK integration has no response
/// body of its own: `$input.body` reads `{}`).
pub fn render_mock<'t>(
    m: &'t MockIntegration,
    r: &'t MockResponse,
    data: &mut LazyData<'_, '_>,
) -> Result<Cow<'t, RenderedResponse>, MockError> {
    let answer = match &r.body {
        ResponseBody::Fixed(answer) => Cow::Borrowed(answer),
        ResponseBody::Render(t) => {
            let mut out = String::new();
            let rendered = data.get().render(t, b"", &m.stage_variables, &mut out)?;
            Cow::Owned(mock::answer(
                r.status,
                &r.headers,
                &rendered,
                out.into_bytes(),
            ))
        }
    };
    // The template's output is the integration's payload; its media type says whether it is
    // binary ([`content`]).
    content::convert_answer(
        answer,
        None,
        data.view().req.header(b"accept"),
        &data.view().stage.binary_media_types,
        r.handling,
    )
    .map_err(|_| MockError::NotBase64)
}

/// Writes a MOCK integration's response.
pub fn write_mock(
    out: &mut Vec<u8>,
    ctx: &mut ResponseContext,
    r: &RenderedResponse,
    id: &RequestId,
    f: Framing,
) {
    write_stored(out, ctx, r.status, &r.header_block, &r.body, id, f);
}

/// Writes an answer from the stage's cache.
pub fn write_cached(
    out: &mut Vec<u8>,
    ctx: &mut ResponseContext,
    r: &CachedResponse,
    id: &RequestId,
    f: Framing,
) {
    write_stored(out, ctx, r.status, &r.header_block, &r.body, id, f);
}

fn write_stored(
    out: &mut Vec<u8>,
    ctx: &mut ResponseContext,
    status: u16,
    header_block: &[u8],
    body: &[u8],
    id: &RequestId,
    f: Framing,
) {
    write_common_head(out, ctx, status, id, f.conn);
    out.extend_from_slice(header_block);
    write_content_length(out, body.len());
    out.extend_from_slice(b"\r\n");
    if !f.head_req {
        out.extend_from_slice(body);
    }
}

/// Writes the backend's answer held in `s`: its end-to-end headers, then its body (sized, or
/// chunked on to an HTTP/1.1 client when the backend chunked it).
pub fn write_proxied(
    out: &mut Vec<u8>,
    ctx: &mut ResponseContext,
    s: &ProxyScratch,
    id: &RequestId,
    f: Framing,
) {
    write_status_line(out, s.head.status);
    // The gateway's own Date; the backend's is passed on remapped ([`remap`]).
    write_header(out, b"Date", ctx.date());
    write_header(out, b"x-amzn-RequestId", id.as_bytes());
    write_header(
        out,
        b"x-amz-apigw-id",
        &crate::dataplane::respond::apigw_id(id.as_str()),
    );
    match f.conn {
        ConnState::KeepAlive11 => {}
        ConnState::KeepAlive10 => write_header(out, b"Connection", b"keep-alive"),
        ConnState::Close => write_header(out, b"Connection", b"close"),
    }
    for (n, v) in &s.head.headers {
        let (name, value) = (&s.resp[n.clone()], &s.resp[v.clone()]);
        // A HEAD answer keeps the backend's length: it describes the body a GET would get.
        if f.head_req && name.eq_ignore_ascii_case(b"content-length") {
            write_header(out, name, value);
        } else if remap::is_remapped(name) {
            remap::write_remapped(out, name, value);
        } else if !is_hop_by_hop(name) {
            write_header(out, name, value);
        }
    }
    let body = s.body();
    let no_body = response_has_no_body(s.head.status, f.head_req);
    if s.body == BodyAt::Chunked && f.http11 && !no_body {
        write_header(out, b"Transfer-Encoding", b"chunked");
        out.extend_from_slice(b"\r\n");
        write_chunked_body(out, body);
    } else {
        if !no_body {
            write_content_length(out, body.len());
        }
        out.extend_from_slice(b"\r\n");
        if !no_body {
            out.extend_from_slice(body);
        }
    }
}

/// Writes a Lambda proxy function's answer (its headers are checked and framing-free).
pub fn write_lambda(
    out: &mut Vec<u8>,
    ctx: &mut ResponseContext,
    r: &Reply,
    id: &RequestId,
    f: Framing,
) {
    write_common_head(out, ctx, r.status, id, f.conn);
    for (name, value) in &r.headers {
        write_header(out, name.as_bytes(), value.as_bytes());
    }
    let no_body = response_has_no_body(r.status, f.head_req);
    if !response_has_no_body(r.status, false) {
        write_content_length(out, r.body.len());
    }
    out.extend_from_slice(b"\r\n");
    if !no_body {
        out.extend_from_slice(&r.body);
    }
}

/// A backend answer as the cache keeps it: end-to-end headers only, those AWS remaps
/// already renamed as the live answer has them (no framing, no date of the gateway's).
pub fn cacheable(s: &ProxyScratch) -> CachedResponse {
    let mut header_block = Vec::new();
    for (n, v) in &s.head.headers {
        let (name, value) = (&s.resp[n.clone()], &s.resp[v.clone()]);
        if remap::is_remapped(name) {
            remap::write_remapped(&mut header_block, name, value);
        } else if !is_hop_by_hop(name) {
            write_header(&mut header_block, name, value);
        }
    }
    CachedResponse {
        status: s.head.status,
        header_block,
        body: s.body().to_vec(),
    }
}
