// Misuses the generated TypeScript SDK: each marked line must be a type error.
import { newClient } from './sdk/apigClient.js';

const client = newClient({});
// TS2322: 'horse' is not one of the NewPet model's enum values.
await client.petsPost({}, { type: 'horse' });
// TS2345: the required query parameter `verbose` is missing.
await client.petsPetIdGet({ petId: '1' });
// TS2339: no such method.
await client.petsPatch({});
