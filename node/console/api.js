// The admin API client: every call signed with SigV4 (service apigateway, the node's region),
// JSON in and out, AWS errors turned into ApiError. Credentials live in sessionStorage only
// (gone when the tab closes) and are never sent: only signatures made with them are.

import { sign } from './sigv4.js';

const STORE = 'tollgate.console.credentials';

/** An admin API error: HTTP status, AWS error type, message. */
export class ApiError extends Error {
  constructor(status, type, message) {
    super(`${type || 'Error'} (${status}): ${message}`);
    this.status = status;
    this.type = type;
  }
}

/** The credentials of this tab's session, or null. */
export function loadCredentials() {
  try {
    const c = JSON.parse(sessionStorage.getItem(STORE) || 'null');
    return c && c.accessKeyId && c.secretAccessKey && c.region ? c : null;
  } catch {
    return null;
  }
}

export function saveCredentials(c) {
  sessionStorage.setItem(STORE, JSON.stringify(c));
}

export function forgetCredentials() {
  sessionStorage.removeItem(STORE);
}

/** The region the node signs for (from /console/config.json, unsigned). */
export async function nodeRegion() {
  try {
    const r = await fetch('/console/config.json', { cache: 'no-store' });
    return (await r.json()).region || 'us-east-1';
  } catch {
    return 'us-east-1';
  }
}

/** A client signing with `credentials` ({ accessKeyId, secretAccessKey, region }). */
export class Api {
  constructor(credentials) {
    this.credentials = credentials;
  }

  /** Calls `method path` (path with its query) with an optional JSON body; the parsed answer. */
  async call(method, path, body) {
    const url = new URL(path, location.origin);
    const text = body === undefined ? '' : JSON.stringify(body);
    const { headers } = await sign({
      method, url, body: text, credentials: this.credentials,
      region: this.credentials.region, service: 'apigateway', now: new Date(),
    });
    if (text) headers['content-type'] = 'application/json';
    const resp = await fetch(url, {
      method, headers, body: text || undefined, cache: 'no-store', credentials: 'omit',
    });
    const answer = await resp.text();
    let json = null;
    try {
      json = answer ? JSON.parse(answer) : {};
    } catch {
      json = null;
    }
    if (!resp.ok) {
      const type = resp.headers.get('x-amzn-ErrorType') || '';
      const message = (json && (json.message || json.Message)) || answer || resp.statusText;
      throw new ApiError(resp.status, type.split(':')[0], message);
    }
    return json || {};
  }

  /** Every item of a paged collection (at most `pages` pages of 500). */
  async all(path, pages = 20) {
    const items = [];
    let position = null;
    for (let i = 0; i < pages; i++) {
      const sep = path.includes('?') ? '&' : '?';
      const page = await this.call('GET', `${path}${sep}limit=500`
        + (position ? `&position=${encodeURIComponent(position)}` : ''));
      items.push(...(page.item || []));
      position = page.position;
      if (!position) break;
    }
    return items;
  }
}
