// The dashboard in a real headless browser (Debian's chromium driven by playwright-core):
// a real run grows on the runs page, its page draws a chart of its flushed rows, and after
// SIGKILL it turns `crashed`. Screenshots are kept as artifacts in $MMRUN_ARTIFACTS (default:
// <tmp>/mmrun-ui-artifacts); with MMRUN_UI_DOCS=1 they also replace docs/img/ui-*.png.
// Without chromium the test skips on a workstation and fails in CI (CI=true).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, mmrun, ROOT, spawnMmrun, tempDirs, waitFor } from './cli.ts';

const CHROMIUM = process.env.MMRUN_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
const CI = process.env.CI === 'true' || process.env.CI === '1';
const ARTIFACTS = process.env.MMRUN_ARTIFACTS ?? path.join(os.tmpdir(), 'mmrun-ui-artifacts');
const DOCS = process.env.MMRUN_UI_DOCS === '1';

const newDir = tempDirs('mmrun-ui-e2e-');
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.locator('body').screenshot({ path: file });
  if (DOCS && (name === 'ui-runs' || name === 'ui-run'))
    fs.copyFileSync(file, path.join(ROOT, 'docs/img', `${name}.png`));
}

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

describe.skipIf(!haveChromium && !CI)('dashboard in a real browser', () => {
  it('shows a live run grow, charts its rows, and turns it crashed after SIGKILL', async () => {
    expect(haveChromium, `${CHROMIUM} is missing: apt-get install -y chromium (or set MMRUN_CHROMIUM)`).toBe(true);
    const runsDir = newDir();
    const done = await mmrun(
      ['run', 'walk', '--iterations', '2e5', '--seed', '42', '--id', 'walk-demo', '--quiet'],
      runsDir,
    );
    expect(done.code, done.stderr).toBe(0);

    const ui = spawnMmrun(['ui', '--port', '0'], runsDir);
    cleanups.push(() => ui.child.exitCode === null && ui.child.kill('SIGKILL'));
    let stdout = '';
    ui.child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    await ui.started;
    const url = await waitFor(() => /^(http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(stdout)?.[1], 20_000, 'the URL');
    const port = Number(new URL(url).port);

    const run = spawnMmrun(
      [
        'run',
        path.join(FIXTURES, 'ui-slow.ts'),
        '--id',
        'live-1',
        '--flush-interval',
        '0.2',
        '--param',
        'stepUs=200',
        '--quiet',
      ],
      runsDir,
    );
    cleanups.push(() => run.child.exitCode === null && run.child.kill('SIGKILL'));
    await run.started;

    const profile = newDir();
    const context: BrowserContext = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 820 },
    });
    cleanups.push(() => context.close());
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    // The runs page: the live run appears and its flushed rows go up without a reload.
    await page.goto(url);
    const row = page.locator('tr[data-run-id="live-1"]');
    await row.waitFor({ timeout: 20_000 });
    const doneOf = async () => Number(await row.locator('[data-field="progress"]').getAttribute('data-done'));
    const first = await doneOf();
    await expect.poll(doneOf, { timeout: 20_000, interval: 100 }).toBeGreaterThan(first);
    expect(await row.getAttribute('data-status')).toBe('running');
    await expect.poll(() => page.locator('tr[data-run-id="walk-demo"]').getAttribute('data-status')).toBe('completed');
    await shot(page, 'ui-runs');

    // The run's page: a chart with data points, which grows as rows are flushed.
    await row.locator('a').click();
    await page.waitForURL(/\/runs\/live-1$/);
    const points = async () => Number((await page.locator('#chart').getAttribute('data-points')) ?? 0);
    await expect.poll(points, { timeout: 20_000, interval: 100 }).toBeGreaterThan(0);
    expect(await page.locator('#chart canvas').count()).toBeGreaterThan(0);
    const chartRows = async () => Number(await page.locator('#chart').getAttribute('data-rows'));
    const before = await chartRows();
    await expect.poll(chartRows, { timeout: 20_000, interval: 100 }).toBeGreaterThan(before);
    expect(await points()).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#stats tbody tr').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#hist canvas').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    expect(await page.locator('#spec').textContent()).toContain('"stepUs":200');
    await shot(page, 'ui-run');

    // SIGKILL: the page turns it crashed within a few seconds, without a reload.
    run.child.kill('SIGKILL');
    await run.exited;
    await expect
      .poll(() => page.locator('#status').getAttribute('data-status'), { timeout: 10_000, interval: 100 })
      .toBe('crashed');
    await page.goto(url);
    await expect
      .poll(() => page.locator('tr[data-run-id="live-1"]').getAttribute('data-status'), { timeout: 10_000 })
      .toBe('crashed');
    await shot(page, 'ui-runs-crashed');
    // Filters: by status, then by experiment; kept in the address across a reload.
    await page.selectOption('#status-filter', 'crashed');
    await expect.poll(() => page.locator('#runs tbody tr').count()).toBe(1);
    expect(await page.locator('#runs tbody tr').getAttribute('data-run-id')).toBe('live-1');
    await page.selectOption('#status-filter', '');
    await page.selectOption('#experiment-filter', 'walk');
    await page.reload();
    await expect.poll(() => page.locator('#runs tbody tr').first().getAttribute('data-run-id')).toBe('walk-demo');
    expect(await page.locator('#runs tbody tr').count()).toBe(1);

    // A sweep: a row on the runs page, and its page with the points and a chart of a column's
    // mean against a swept param (± standard error over the seeds).
    const sweep = await mmrun(
      [
        'sweep',
        path.join(FIXTURES, 'ui-slow.ts'),
        '--grid',
        'stepUs=0,1,2',
        '--seeds',
        '2',
        '--iterations',
        '400',
        '--id',
        'sw',
        '--quiet',
      ],
      runsDir,
    );
    expect(sweep.code, sweep.stderr).toBe(0);
    await page.goto(url);
    const sweepRow = page.locator('tr[data-sweep-id="sw"]');
    await sweepRow.waitFor({ timeout: 20_000 });
    expect(await sweepRow.getAttribute('data-status')).toBe('completed');
    await sweepRow.locator('a[href="/sweeps/sw"]').click();
    await page.waitForURL(/\/sweeps\/sw$/);
    await expect.poll(() => page.locator('#points tbody tr').count(), { timeout: 20_000 }).toBe(6);
    await expect
      .poll(async () => Number((await page.locator('#chart').getAttribute('data-points')) ?? 0), { timeout: 20_000 })
      .toBe(3);
    expect(await page.locator('#chart canvas').count()).toBeGreaterThan(0);
    await shot(page, 'ui-sweep');
    expect(errors).toEqual([]);

    // Ctrl-C stops the server: exit 130, the port is free.
    await context.close();
    ui.child.kill('SIGINT');
    const exit = await ui.exited;
    expect(exit.code, exit.stderr).toBe(130);
    expect(await portOpen(port)).toBe(false);
  });
});

describe('mmrun ui on the command line', () => {
  it('refuses a port in use and a bad port with one line and exit 1, creating nothing', async () => {
    const runsDir = newDir();
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (busy.address() as net.AddressInfo).port;
      const taken = await mmrun(['ui', '--port', String(port)], runsDir);
      expect(taken.code).toBe(1);
      expect(taken.stderr).toContain(`BAD_OPTION: port ${port} on 127.0.0.1 is in use`);
      expect(taken.stderr).toContain('--port 0');
      const bad = await mmrun(['ui', '--port', '70000'], runsDir);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('port 70000 is not an integer from 0 to 65535');
      expect(fs.readdirSync(runsDir)).toEqual([]);
    } finally {
      busy.close();
    }
  });
});
