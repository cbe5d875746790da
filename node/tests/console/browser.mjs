// What the console's browser scripts share: their settings from the environment, checks,
// Debian's Chromium launched by playwright-core with a fresh profile, and signing in.

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

/** The environment variable `name`; throws when unset. */
export function env(name) {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
}

/** Throws `check failed: what` unless `cond`. */
export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

/** Runs `body(context)` in a fresh headless Chromium (never one playwright downloads). */
export async function withBrowser(body) {
  const require = createRequire(join(env('NPM_DIR'), 'package.json'));
  const { chromium } = require('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'tollgate-console-chromium-'));
  // A fresh profile (--user-data-dir, which playwright passes from this argument).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 800 },
    timeout: 60000,
  });
  try {
    return await body(context);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Waits until the current page has rendered. */
export function ready(page) {
  return page.waitForSelector('#page[data-ready="true"]');
}

/** Opens the console at `adminUrl` and signs in; resolves when the APIs page is shown. */
export async function signIn(page, adminUrl, accessKey, secret) {
  await page.goto(`${adminUrl}/console/`);
  await page.waitForSelector('#sign-in:not([hidden])');
  await page.waitForFunction(() => document.getElementById('region').value !== '');
  await page.fill('#access-key', accessKey);
  await page.fill('#secret-key', secret);
  await page.click('#sign-in-button');
  await ready(page);
}
