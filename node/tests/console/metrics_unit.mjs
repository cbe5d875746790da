// Unit checks of the console's Prometheus reading (node/console/metrics.js): per-stage sums
// of tollgate_api_requests_total, the node-wide fallback, rates and counter resets.
// Prints METRICS-OK; exits non-zero on the first failure.

import { strict as assert } from 'node:assert';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { totalsByStage, rates, parseLabels } = await import(join(here, '../../console/metrics.js'));

assert.deepEqual(parseLabels('a="1",b="x\\"y",c="p\\\\q"'), { a: '1', b: 'x"y', c: 'p\\q' });

// As the node writes them: a stage-level series per (api, stage), and for methods with
// detailed metrics a method series too (the same requests again: not added).
const perStage = `# HELP tollgate_api_requests_total Requests (Count) per API and stage, and per method.
# TYPE tollgate_api_requests_total counter
tollgate_api_requests_total{api="a1",stage="prod"} 15
tollgate_api_requests_total{api="a1",stage="prod",resource="/pets",method="GET"} 10
tollgate_api_requests_total{api="a1",stage="prod",resource="/pets/{id}",method="GET"} 5
tollgate_api_requests_total{api="a1",stage="dev"} 1
tollgate_api_requests_total{api="b2",stage="prod"} 7
tollgate_api_requests_total{api="b2",stage="prod",resource="/x, \\"y\\"",method="POST"} 7
tollgate_requests_total 23
`;
const t1 = totalsByStage(perStage);
assert.deepEqual([...t1.keys()].sort(), ['a1/dev', 'a1/prod', 'b2/prod']);
assert.equal(t1.get('a1/prod').total, 15);
assert.equal(t1.get('b2/prod').total, 7);

const later = perStage.replace('stage="prod"} 15', 'stage="prod"} 35').replace('stage="prod"} 7', 'stage="prod"} 2');
const r = rates({ at: 0, totals: t1 }, { at: 2000, totals: totalsByStage(later) });
assert.equal(r.get('a1/prod'), 10); // 20 more in 2 s
assert.equal(r.get('a1/dev'), 0);
assert.equal(r.get('b2/prod'), 1); // went down (a restart): counts from zero
assert.equal(rates({ at: 5, totals: t1 }, { at: 5, totals: t1 }).size, 0);

const nodeWide = totalsByStage('# TYPE tollgate_requests_total counter\ntollgate_requests_total 42\ntollgate_2xx_total 40\n');
assert.deepEqual([...nodeWide.entries()], [['', { api: null, stage: null, total: 42 }]]);
assert.equal(totalsByStage('garbage\n{}\nx y z\n').size, 0);
console.log('METRICS-OK');
