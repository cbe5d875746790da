// The console's cluster page on every node of a 3-node cluster: each names the same leader;
// the leader's page gives every member's lag, a follower's says the lag is known on the
// leader. Prints `CONSOLE-CLUSTER-OK {json}` (one view per node) for node/tests/console.rs.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, env, ready, signIn, withBrowser } from './browser.mjs';

const ADMINS = env('ADMIN_URLS').split(',');
const ACCESS_KEY = env('ACCESS_KEY');
const SECRET = env('SECRET_KEY');
const SHOTS = env('SHOTS');
mkdirSync(SHOTS, { recursive: true });

const views = await withBrowser(async (context) => {
  const out = [];
  for (const [i, admin] of ADMINS.entries()) {
    const page = await context.newPage();
    page.setDefaultTimeout(20000);
    await signIn(page, admin, ACCESS_KEY, SECRET);
    await page.click('#nav a[data-page="cluster"]');
    await ready(page);
    const rows = await page.$$eval('#members tbody tr', (trs) => trs.map((tr) => ({
      id: Number(tr.dataset.member),
      leaderBadge: tr.querySelector('.badge') !== null,
      lag: tr.querySelector('td.lag').textContent,
    })));
    const view = {
      admin,
      thisNode: await page.textContent('#this-node'),
      leader: await page.textContent('#leader'),
      rows,
    };
    check(rows.length === ADMINS.length, `members on ${admin}: ${JSON.stringify(rows)}`);
    const shot = join(SHOTS, `cluster-node-${i + 1}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    view.shot = shot;
    out.push(view);
    await page.close();
  }
  return out;
});
console.log(`CONSOLE-CLUSTER-OK ${JSON.stringify(views)}`);
