// Checks the console's SigV4 signer (node/console/sigv4.js) against the AWS SigV4 test suite
// (node/tests/data/sigv4): for every case the verifier normalises, the canonical URI and query
// lines of the canonical request, and for every case signing exactly host;x-amz-date the
// whole signature. Prints one line per case; exits non-zero on the first mismatch.
// Usage: node sigv4_vectors.mjs <suite folder>

import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { sign, canonicalUri, canonicalQuery } = await import(join(here, '../../console/sigv4.js'));

const suite = process.argv[2];
let checked = 0;
let signed = 0;
for (const name of readdirSync(suite).sort()) {
  const dir = join(suite, name);
  if (!existsSync(join(dir, 'context.json'))) continue;
  const context = JSON.parse(readFileSync(join(dir, 'context.json'), 'utf8'));
  if (!context.normalize) continue;
  const request = readFileSync(join(dir, 'request.txt'), 'utf8');
  const first = request.split('\n')[0];
  const target = first.slice(first.indexOf(' ') + 1, first.lastIndexOf(' '));
  const q = target.indexOf('?');
  const [path, query] = q < 0 ? [target, ''] : [target.slice(0, q), target.slice(q + 1)];
  const expected = readFileSync(join(dir, 'header-canonical-request.txt'), 'utf8').split('\n');
  const got = [canonicalUri(path), canonicalQuery(query)];
  if (got[0] !== expected[1] || got[1] !== expected[2]) {
    console.error(`${name}: got ${JSON.stringify(got)}, expected ${JSON.stringify(expected.slice(1, 3))}`);
    process.exit(1);
  }
  checked++;
  const signedRequest = readFileSync(join(dir, 'header-signed-request.txt'), 'utf8');
  const body = request.includes('\n\n') ? request.slice(request.indexOf('\n\n') + 2) : '';
  if (signedRequest.includes('SignedHeaders=host;x-amz-date,') && body === '') {
    const host = /^host:(.*)$/im.exec(request)[1].trim();
    const { details } = await sign({
      method: first.split(' ')[0],
      url: { host, pathname: path, search: query ? `?${query}` : '' },
      body: '',
      credentials: {
        accessKeyId: context.credentials.access_key_id,
        secretAccessKey: context.credentials.secret_access_key,
      },
      region: context.region,
      service: context.service,
      now: new Date(context.timestamp),
    });
    const want = readFileSync(join(dir, 'header-signature.txt'), 'utf8').trim();
    if (details.signature !== want) {
      console.error(`${name}: signature ${details.signature}, expected ${want}\n${details.canonicalRequest}`);
      process.exit(1);
    }
    signed++;
  }
  console.log(`ok ${name}`);
}
console.log(`SIGV4-VECTORS-OK ${checked} canonical, ${signed} signatures`);
