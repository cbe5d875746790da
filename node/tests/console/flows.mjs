// Clicks through the web console in headless Chromium (playwright-core, Debian's chromium):
// sign-in (a wrong secret first), APIs and a resource tree, signed calls with awkward paths
// and queries against the real verifier, stages with a rollback, keys and usage plans with
// the usage chart, the cluster page, live request rates, sign-out. Screenshots go to
// $SHOTS. Driven by node/tests/console.rs, which prepared the node and reads the last line:
// `CONSOLE-FLOWS-OK {json}`.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, env, ready as pageReady, withBrowser } from './browser.mjs';

const ADMIN = env('ADMIN_URL');
const DATA = env('DATA_URL');
const ACCESS_KEY = env('ACCESS_KEY');
const SECRET = env('SECRET_KEY');
const REGION = env('REGION');
const API_ID = env('API_ID');
const API_NAME = env('API_NAME');
const STAGE = env('STAGE');
const OLD_DEPLOYMENT = env('OLD_DEPLOYMENT');
const NEW_DEPLOYMENT = env('NEW_DEPLOYMENT');
const USAGE_USED = env('USAGE_USED');
const API_KEY = env('API_KEY');
const SHOTS = env('SHOTS');

mkdirSync(SHOTS, { recursive: true });
const shots = [];
const problems = [];
const sent = [];
const refused = [];
await withBrowser(async (context) => {
  try {
    await flows(context);
  } catch (e) {
    console.error(`browser problems so far: ${problems.join('\n') || 'none'}`);
    throw e;
  }
});

/** The flows, in one browser tab. */
async function flows(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const text = m.text();
    // Refused calls are expected (a wrong secret, unknown ids); they are listed below.
    if (m.type() === 'error' && !text.startsWith('Failed to load resource')) {
      problems.push(`console error: ${text}`);
    }
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) refused.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on('request', (r) => sent.push({ url: r.url(), headers: r.headers(), body: r.postData() || '' }));
  const shot = async (name) => {
    const path = join(SHOTS, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    shots.push(path);
  };
  const ready = () => pageReady(page);

  // The page and its security headers.
  const first = await page.goto(`${ADMIN}/console/`);
  check(first.status() === 200, `GET /console/ answered ${first.status()}`);
  const headers = first.headers();
  check(headers['x-frame-options'] === 'DENY', 'X-Frame-Options DENY');
  check((headers['content-security-policy'] || '').includes("script-src 'self'"), 'CSP script-src');
  await page.waitForSelector('#sign-in:not([hidden])');
  await page.waitForFunction(() => document.getElementById('region').value !== '');
  check(await page.inputValue('#region') === REGION, 'region from config.json');

  // A wrong secret is refused by the node, and the form says so.
  await page.fill('#access-key', ACCESS_KEY);
  await page.fill('#secret-key', 'not-the-secret');
  await page.click('#sign-in-button');
  await page.waitForFunction(() => document.getElementById('sign-in-error').textContent.includes('Sign-in failed'));
  const refusal = await page.textContent('#sign-in-error');
  check(/InvalidSignatureException|signature/i.test(refusal), `refusal names the signature: ${refusal}`);
  await shot('sign-in-refused');

  // Sign in: the APIs page lists the API.
  await page.fill('#secret-key', SECRET);
  await page.click('#sign-in-button');
  await ready();
  await page.waitForSelector(`#apis a.api-link:has-text("${API_NAME}")`);
  const stored = await page.evaluate(() => ({
    session: sessionStorage.length, local: localStorage.length, cookie: document.cookie,
  }));
  check(stored.session === 1 && stored.local === 0 && stored.cookie === '', `storage ${JSON.stringify(stored)}`);
  await shot('apis');

  // The resource tree with its methods.
  await page.click(`#apis a.api-link:has-text("${API_NAME}")`);
  await page.waitForSelector('#resource-tree li[data-path="/pets/{proxy+}"]');
  const tree = await page.textContent('#resource-tree');
  check(tree.includes('/pets') && tree.includes('{proxy+}') && tree.includes('GET') && tree.includes('ANY'),
    `resource tree: ${tree}`);
  await shot('resources');

  // Signing matches the verifier for paths and queries the browser encodes (braces, spaces,
  // '~', non-ASCII, repeated and unsorted keys) and for patch paths with ~1: the node answers
  // NotFound or BadRequest, never a signature error.
  const awkward = await page.evaluate(async ({ api }) => {
    const { Api, loadCredentials } = await import('/console/api.js');
    const client = new Api(loadCredentials());
    const outcome = async (method, path, body) => {
      try { await client.call(method, path, body); return 'ok'; } catch (e) { return `${e.status} ${e.type}`; }
    };
    return [
      await outcome('GET', `/restapis/${api}/resources/{proxy+} x~1é/methods/GET?b=2&a=1&a=0&c=%7E&d=x+y&e=&f=a%2Fb`),
      await outcome('GET', `/restapis/${api}/resources/./../${api}//x?limit=1&limit=2`),
      await outcome('PATCH', `/restapis/${api}/stages/no-such-stage`, {
        patchOperations: [{ op: 'replace', path: '/~1pets~1{proxy+}/GET/throttling/rateLimit', value: '5' }],
      }),
    ];
  }, { api: API_ID });
  for (const o of awkward) check(!o.startsWith('403'), `signed call refused: ${awkward}`);
  check(awkward[0].startsWith('404'), `awkward GET: ${awkward[0]}`);

  // Stages with their deployments; roll back to the older deployment (arm, then confirm).
  await page.click('#nav a[data-page="stages"]');
  await ready();
  const card = `div.card[data-stage="${STAGE}"]`;
  await page.waitForSelector(`${card} tr[data-deployment="${NEW_DEPLOYMENT}"] .badge`);
  await shot('stages');
  const button = `${card} button.rollback[data-deployment="${OLD_DEPLOYMENT}"]`;
  await page.click(button);
  await page.waitForSelector(`${button}.armed`);
  await page.click(button);
  await page.waitForSelector(`${card} tr[data-deployment="${OLD_DEPLOYMENT}"] .badge`);
  await ready();
  await shot('stages-rolled-back');

  // Keys and usage plans: the key, and the usage chart with today's requests.
  await page.click('#nav a[data-page="keys"]');
  await ready();
  await page.waitForSelector('#keys');
  await page.waitForSelector('.usage-chart rect.bar', { state: 'attached' });
  const usage = await page.evaluate(() => ({
    total: document.querySelector('.usage-total').textContent,
    bars: [...document.querySelectorAll('.usage-chart rect.bar')].map((r) => Number(r.dataset.value)),
  }));
  check(usage.total === USAGE_USED, `usage total ${usage.total}, expected ${USAGE_USED}`);
  check(usage.bars.length === 14 && usage.bars[13] === Number(USAGE_USED), `usage bars ${usage.bars}`);
  await shot('keys');

  // The cluster: this single node leads, lag 0.
  await page.click('#nav a[data-page="cluster"]');
  await ready();
  const leader = await page.textContent('#leader');
  const members = await page.$$eval('#members tbody tr', (rows) => rows.map((r) => r.textContent));
  const lag = await page.textContent('#members tbody tr td.lag');
  check(leader === 'node 1', `leader ${leader}`);
  check(members.length === 1 && members[0].includes('leader'), `members ${members}`);
  check(lag === '0', `lag ${lag}`);
  await shot('cluster');

  // Live request rate: requests sent now show up as a rate above zero.
  await page.click('#nav a[data-page="traffic"]');
  await ready();
  let sending = true;
  let invoked = 0;
  const load = (async () => {
    while (sending && invoked < 2000) {
      const r = await fetch(`${DATA}/restapis/${API_ID}/${STAGE}/_user_request_/pets`, {
        headers: { 'x-api-key': API_KEY },
      });
      await r.arrayBuffer();
      invoked++;
      await new Promise((ok) => setTimeout(ok, 20));
    }
  })();
  let rate = 0;
  try {
    await page.waitForFunction(() => [...document.querySelectorAll('#rates td.rate')]
      .some((td) => Number(td.textContent) > 0), null, { timeout: 20000 });
    rate = await page.$$eval('#rates td.rate', (tds) => Math.max(...tds.map((td) => Number(td.textContent))));
    await page.waitForSelector('.rate-chart rect.bar', { state: 'attached' });
  } finally {
    sending = false;
    await load;
  }
  await shot('traffic');

  // Sign out: the credentials leave the tab.
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in:not([hidden])');
  check(await page.evaluate(() => sessionStorage.length) === 0, 'session storage cleared');

  // The secret itself never left the browser.
  for (const r of sent) {
    const all = r.url + JSON.stringify(r.headers) + r.body;
    check(!all.includes(SECRET), `the secret was sent to ${r.url}`);
  }
  check(sent.some((r) => (r.headers.authorization || '').startsWith('AWS4-HMAC-SHA256 Credential=')),
    'calls are signed');
  check(problems.length === 0, `browser problems: ${problems.join('; ')}`);
  console.log(`CONSOLE-FLOWS-OK ${JSON.stringify({ shots, rate, invoked, awkward, requests: sent.length, refused })}`);
}
