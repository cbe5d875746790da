// Uses the generated TypeScript SDK as its types allow (node/tests/sdk.rs type-checks and
// compiles this with tsc --strict, then runs it against a live node).
declare const process: { env: Record<string, string | undefined> };
import { newClient, ApiError, type ApiResponse, type Echo, type NewPet } from './sdk/apigClient.js';

const client = newClient({ apiKey: process.env.API_KEY });
const pet: NewPet = { type: 'fish', price: 40 };
const created: ApiResponse<Echo> = await client.petsPost({}, pet);
const listed = await client.petsGet({ type: 'dog' });
const method: string | undefined = listed.data.method;
let refused = 0;
try {
  await newClient({ apiKey: 'wrong-key' }).petsPost({}, pet);
} catch (e) {
  if (e instanceof ApiError) refused = e.status;
}
console.log(JSON.stringify({ created: created.status, body: created.data.body, method, refused }));
