// Calls every method of a generated JavaScript SDK against a live node (node/tests/sdk.rs):
// SDK_DIR holds apigClient.js; API_KEY is a key of the stage's usage plan; IAM_KEY and
// IAM_SECRET an IAM user's key allowed to invoke. Prints one JSON object: each call's
// status and data (or the ApiError's), the client's method names and its endpoint.
import { pathToFileURL } from 'node:url';

const sdk = await import(pathToFileURL(`${process.env.SDK_DIR}/apigClient.js`).href);
const { newClient, ApiError, DEFAULT_ENDPOINT } = sdk;
const results = { endpoint: DEFAULT_ENDPOINT, calls: {} };

async function attempt(name, call) {
  try {
    const r = await call();
    results.calls[name] = { status: r.status, data: r.data };
  } catch (e) {
    results.calls[name] =
      e instanceof ApiError
        ? { status: e.status, data: e.data, errorType: e.headers['x-amzn-errortype'] ?? null }
        : { thrown: String(e) };
  }
}

const client = newClient({
  apiKey: process.env.API_KEY,
  accessKey: process.env.IAM_KEY,
  secretKey: process.env.IAM_SECRET,
});
results.methods = Object.keys(client).sort();

await attempt('rootGet', () => client.rootGet());
await attempt('petsGet', () => client.petsGet({ type: 'dog', 'x-trace': 't-1' }));
await attempt('petsPost', () => client.petsPost({}, { type: 'cat', price: 30 }));
await attempt('petsPetIdGet', () => client.petsPetIdGet({ petId: 'a b', verbose: 'yes' }));
await attempt('petsPetIdDelete', () => client.petsPetIdDelete({ petId: '42' }));
await attempt('storeProxyAny', () =>
  client.storeProxyAny({ proxy: 'orders/7' }, 'order-body', { method: 'PUT' }),
);
// Refused: a wrong key, a wrong secret, no signature; a missing required parameter.
await attempt('wrongKey', () => newClient({ apiKey: 'wrong-key' }).petsPost({}, { type: 'cat' }));
await attempt('wrongSecret', () =>
  newClient({ accessKey: process.env.IAM_KEY, secretKey: 'wrong' }).petsPetIdGet({
    petId: '1',
    verbose: 'no',
  }),
);
await attempt('unsigned', () => newClient({}).petsPetIdGet({ petId: '1', verbose: 'no' }));
await attempt('missingParam', () => client.petsPetIdGet({ petId: '1' }));

console.log(JSON.stringify(results));
