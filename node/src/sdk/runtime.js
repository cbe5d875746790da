// ---- Runtime: requests with fetch, SigV4 with WebCrypto (no third-party dependencies). ----

const encoder = new TextEncoder();

/** An answer whose status is not 2xx. */
export class ApiError extends Error {
  constructor(response) {
    super(`HTTP ${response.status}`);
    this.name = 'ApiError';
    this.status = response.status;
    this.headers = response.headers;
    this.data = response.data;
  }
}

async function subtleCrypto() {
  if (globalThis.crypto && globalThis.crypto.subtle) {
    return globalThis.crypto.subtle;
  }
  // Node.js 18 has WebCrypto in node:crypto, not yet as a global.
  const { webcrypto } = await import('node:crypto');
  return webcrypto.subtle;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function hmac(subtle, key, text) {
  const k = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return subtle.sign('HMAC', k, encoder.encode(text));
}

function encodeRfc3986(s) {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/**
 * Adds SigV4 headers (`authorization`, `x-amz-date`, `x-amz-security-token`) to `headers`,
 * signing every header sent (and `host`) for `service` in `region`.
 */
export async function signRequest({ method, url, headers, body, credentials, region, service, now }) {
  const subtle = await subtleCrypto();
  const u = new URL(url);
  const date = (now || new Date()).toISOString().replace(/[:-]|\.\d{3}/g, '');
  const day = date.slice(0, 8);
  headers['x-amz-date'] = date;
  if (credentials.sessionToken) {
    headers['x-amz-security-token'] = credentials.sessionToken;
  }
  const signed = { host: u.host };
  for (const [k, v] of Object.entries(headers)) {
    signed[k.toLowerCase()] = String(v).trim().replace(/\s+/g, ' ');
  }
  const names = Object.keys(signed).sort();
  const canonicalHeaders = names.map((n) => `${n}:${signed[n]}\n`).join('');
  const signedHeaders = names.join(';');
  // Non-S3 services sign the path as sent, encoded once more.
  const canonicalUri = u.pathname.split('/').map(encodeRfc3986).join('/') || '/';
  const canonicalQuery = Array.from(u.searchParams, ([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const payloadHash = hex(await subtle.digest('SHA-256', body || new Uint8Array(0)));
  const canonicalRequest = [method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    date,
    scope,
    hex(await subtle.digest('SHA-256', encoder.encode(canonicalRequest))),
  ].join('\n');
  let key = await hmac(subtle, encoder.encode('AWS4' + credentials.secretKey), day);
  key = await hmac(subtle, key, region);
  key = await hmac(subtle, key, service);
  key = await hmac(subtle, key, 'aws4_request');
  const signature = hex(await hmac(subtle, key, stringToSign));
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKey}/${scope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}

function present(v) {
  return v !== undefined && v !== null;
}

function bodyBytes(body) {
  if (typeof body === 'string') return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return encoder.encode(JSON.stringify(body));
}

async function call(config, op, params, body, additionalParams) {
  params = params || {};
  const additional = additionalParams || {};
  for (const name of op.required) {
    if (!present(params[name])) {
      throw new TypeError(`${op.name}: parameter ${name} is required`);
    }
  }
  const path = op.path.replace(/\{([^}]+)\}/g, (_, raw) => {
    const greedy = raw.endsWith('+');
    const value = String(params[greedy ? raw.slice(0, -1) : raw]);
    return greedy ? value.split('/').map(encodeRfc3986).join('/') : encodeRfc3986(value);
  });
  const endpoint = String(config.endpoint || DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const url = new URL(endpoint + path);
  for (const name of op.query) {
    const v = params[name];
    if (!present(v)) continue;
    for (const x of Array.isArray(v) ? v : [v]) url.searchParams.append(name, String(x));
  }
  for (const [k, v] of Object.entries(additional.queryParams || {})) {
    url.searchParams.append(k, String(v));
  }
  const headers = { accept: 'application/json' };
  const setHeaders = (entries) => {
    for (const [k, v] of entries) if (present(v)) headers[k.toLowerCase()] = String(v);
  };
  setHeaders(Object.entries(config.defaultHeaders || {}));
  setHeaders(op.headers.map((name) => [name, params[name]]));
  setHeaders(Object.entries(additional.headers || {}));
  let payload;
  if (present(body)) {
    payload = bodyBytes(body);
    if (!headers['content-type']) headers['content-type'] = op.contentType;
  }
  if (op.apiKey && present(config.apiKey)) {
    headers['x-api-key'] = String(config.apiKey);
  }
  const method = op.method === 'ANY' ? String(additional.method || 'GET').toUpperCase() : op.method;
  if (op.iam && present(config.accessKey) && present(config.secretKey)) {
    await signRequest({
      method,
      url: url.toString(),
      headers,
      body: payload,
      credentials: config,
      region: config.region || REGION,
      service: 'execute-api',
    });
  }
  const res = await fetch(url, { method, headers, body: payload });
  const text = await res.text();
  let data = text;
  if ((res.headers.get('content-type') || '').includes('json') && text !== '') {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  const response = { status: res.status, headers: Object.fromEntries(res.headers), data };
  if (!res.ok) throw new ApiError(response);
  return response;
}
