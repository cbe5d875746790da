// AWS Signature Version 4 in the browser (WebCrypto), canonicalised exactly as Tollgate's
// verifier (node/src/sigv4.rs) and botocore do for every service but S3:
//  - canonical URI: the path as sent on the wire (already percent-encoded by the URL parser),
//    dot and empty segments removed, then URI-encoded once more ('/' kept): %7B -> %257B;
//  - canonical query: each key and value percent-decoded to bytes and re-encoded with only
//    A-Z a-z 0-9 - . _ ~ left bare, pairs sorted by encoded key then encoded value;
//  - signed headers: host and x-amz-date (the browser sets Host itself, from the URL);
//  - payload hash: hex SHA-256 of the body.
// Works in browsers and in Node.js (globalThis.crypto.subtle), so tests can check it.

const encoder = new TextEncoder();

/** Lower-case hex of bytes. */
export function hex(bytes) {
  let out = '';
  for (const b of new Uint8Array(bytes)) out += b.toString(16).padStart(2, '0');
  return out;
}

function toBytes(data) {
  if (data === undefined || data === null) return new Uint8Array(0);
  if (typeof data === 'string') return encoder.encode(data);
  return new Uint8Array(data);
}

/** Hex SHA-256 of a string or bytes. */
export async function sha256Hex(data) {
  return hex(await crypto.subtle.digest('SHA-256', toBytes(data)));
}

async function hmac(key, text) {
  const k = await crypto.subtle.importKey('raw', toBytes(key), { name: 'HMAC', hash: 'SHA-256' },
    false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, encoder.encode(text)));
}

function isUnreserved(b) {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39)
    || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}

/** AWS URI encoding of bytes: all but A-Z a-z 0-9 - . _ ~ (and '/' when keepSlash) as %XX. */
export function uriEncodeBytes(bytes, keepSlash = false) {
  let out = '';
  for (const b of bytes) {
    if (isUnreserved(b) || (keepSlash && b === 0x2f)) out += String.fromCharCode(b);
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Percent-decodes to bytes, leniently as Rust's percent_decode: a '%' not followed by two
 * hex digits stays as it is; '+' stays '+'. */
export function percentDecode(text) {
  const src = encoder.encode(text);
  const out = [];
  const hexVal = (c) => (c >= 0x30 && c <= 0x39) ? c - 0x30
    : (c >= 0x41 && c <= 0x46) ? c - 0x37 : (c >= 0x61 && c <= 0x66) ? c - 0x57 : -1;
  for (let i = 0; i < src.length; i++) {
    if (src[i] === 0x25 && i + 2 < src.length && hexVal(src[i + 1]) >= 0
      && hexVal(src[i + 2]) >= 0) {
      out.push(hexVal(src[i + 1]) * 16 + hexVal(src[i + 2]));
      i += 2;
    } else {
      out.push(src[i]);
    }
  }
  return new Uint8Array(out);
}

/** Removes '.', '..' and empty segments, as botocore (and the verifier's normalize_path). */
export function normalizePath(path) {
  if (path === '') return '/';
  const out = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  let n = path.startsWith('/') ? '/' : '';
  n += out.join('/');
  if (path.endsWith('/') && out.length > 0) n += '/';
  return n;
}

/** The canonical URI of a wire (percent-encoded) path. */
export function canonicalUri(wirePath) {
  return uriEncodeBytes(encoder.encode(normalizePath(wirePath)), true);
}

/** The canonical query string of a raw query (without '?'). */
export function canonicalQuery(rawQuery) {
  const pairs = rawQuery.split('&').filter((p) => p !== '').map((p) => {
    const i = p.indexOf('=');
    const [k, v] = i < 0 ? [p, ''] : [p.slice(0, i), p.slice(i + 1)];
    return [uriEncodeBytes(percentDecode(k)), uriEncodeBytes(percentDecode(v))];
  });
  // Encoded strings are ASCII: code-unit order is byte order, as the verifier sorts.
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** `YYYYMMDDTHHMMSSZ` of a Date. */
export function amzDate(date) {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/**
 * Signs a request; returns { headers, details }: the headers to send (x-amz-date,
 * authorization) and every intermediate (canonicalRequest, stringToSign, signature).
 * `url`: a URL object (its pathname and search are what the browser sends); `body`: string or
 * bytes; `credentials`: { accessKeyId, secretAccessKey }; `now`: a Date.
 */
export async function sign({ method, url, body, credentials, region, service, now }) {
  const date = amzDate(now);
  const day = date.slice(0, 8);
  const scope = `${day}/${region}/${service}/aws4_request`;
  const signedHeaders = 'host;x-amz-date';
  const canonicalHeaders = `host:${url.host}\nx-amz-date:${date}\n`;
  const payloadHash = await sha256Hex(body);
  const canonicalRequest = [
    method.toUpperCase(),
    canonicalUri(url.pathname),
    canonicalQuery(url.search.replace(/^\?/, '')),
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, await sha256Hex(canonicalRequest)]
    .join('\n');
  let key = await hmac(encoder.encode('AWS4' + credentials.secretAccessKey), day);
  key = await hmac(key, region);
  key = await hmac(key, service);
  key = await hmac(key, 'aws4_request');
  const signature = hex(await hmac(key, stringToSign));
  const authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, `
    + `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return {
    headers: { 'x-amz-date': date, authorization },
    details: { canonicalRequest, stringToSign, signature },
  };
}
