// The dashboard's JSON API and its security points, against a real runs directory made by
// the real CLI: foreign Host headers, path traversal in ids and parameters, oversized
// requests, the token on a non-loopback bind, read-only behaviour, 404/400 shapes.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRun } from '../../src/read/open-run.ts';
import { type Dashboard, startDashboard } from '../../src/ui/server.ts';
import { FIXTURES, hashFiles, mmrun, peekRun, spawnMmrun, tempDirs, waitFor } from '../e2e/cli.ts';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: () => { error?: { code: string; message: string; remedy: string | null } } & Record<string, unknown>;
}

/** One request with full control of the raw path and headers (fetch would normalise both). */
function request(
  ui: { port: number; host: string },
  rawPath: string,
  options: { method?: string; headers?: Record<string, string>; host?: string | null } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.host !== null) headers.Host = options.host ?? `${ui.host}:${ui.port}`;
    const req = http.request(
      { host: ui.host, port: ui.port, method: options.method ?? 'GET', path: rawPath, headers, setHost: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const newDir = tempDirs('mmrun-ui-');
let runsDir: string;
let ui: Dashboard;

beforeAll(async () => {
  runsDir = newDir();
  const done = await mmrun(
    [
      'run',
      path.join(FIXTURES, 'ui-slow.ts'),
      '--iterations',
      '3000',
      '--param',
      'stepUs=0',
      '--id',
      'done-1',
      '--quiet',
    ],
    runsDir,
  );
  expect(done.code, done.stderr).toBe(0);
  ui = await startDashboard({ runsDir, port: 0, pollMs: 100 });
});

afterAll(async () => {
  await ui?.close();
});

describe('Host header (DNS rebinding)', () => {
  it('refuses a foreign Host with 403 and a JSON error, and a request without Host', async () => {
    for (const host of [
      'evil.example:80',
      `evil.example:${ui.port}`,
      '127.0.0.1:1',
      `127.0.0.1.evil.example:${ui.port}`,
    ]) {
      const r = await request(ui, '/api/runs', { host });
      expect(r.status, host).toBe(403);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(r.json().error?.code).toBe('FORBIDDEN_HOST');
      expect(r.body).not.toContain('done-1');
    }
    // Without a Host header at all, Node's HTTP/1.1 parser refuses the request first.
    expect((await request(ui, '/api/runs', { host: null })).status).toBe(400);
    // Pages and assets too, not only the API.
    expect((await request(ui, '/', { host: 'evil.example' })).status).toBe(403);
    expect((await request(ui, '/assets/runs.js', { host: 'evil.example' })).status).toBe(403);
  });

  it('serves the runs page with its filters in the address, and refuses other parameters', async () => {
    expect((await request(ui, '/?status=crashed&experiment=walk')).status).toBe(200);
    expect((await request(ui, '/?x=1')).json().error?.code).toBe('BAD_OPTION');
    expect((await request(ui, '/runs/done-1?status=crashed')).status).toBe(400);
  });

  it('answers the bound address and localhost', async () => {
    for (const host of [`127.0.0.1:${ui.port}`, `localhost:${ui.port}`, `LOCALHOST:${ui.port}`]) {
      expect((await request(ui, '/api/runs', { host })).status, host).toBe(200);
    }
  });
});

describe('read-only', () => {
  it('answers only GET and HEAD: any other method is 405 and changes nothing', async () => {
    const before = hashFiles(runsDir);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const r = await request(ui, '/api/runs/done-1', { method });
      expect(r.status, method).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
      expect(r.json().error?.code).toBe('METHOD_NOT_ALLOWED');
    }
    const head = await request(ui, '/api/runs/done-1', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(hashFiles(runsDir, (n) => n === 'mmrun.sqlite')).toEqual({ 'mmrun.sqlite': before['mmrun.sqlite'] });
  });

  it('changes no byte of the runs directory, and leaves only what SQLite needs to read a WAL catalog', async () => {
    const dir = newDir();
    const made = await mmrun(
      ['run', path.join(FIXTURES, 'ui-slow.ts'), '--iterations', '500', '--param', 'stepUs=0', '--id', 'r', '--quiet'],
      dir,
    );
    expect(made.code, made.stderr).toBe(0);
    const before = { ...hashFiles(dir), ...hashFiles(path.join(dir, 'r')) };
    const own = await startDashboard({ runsDir: dir, port: 0 });
    for (const p of [
      '/api/runs',
      '/api/runs/r',
      '/api/runs/r/series?column=x',
      '/api/runs/r/histogram?column=x',
      '/api/runs/r/stats',
      '/api/runs/r/log',
      '/api/runs/r/export?format=arrow',
      '/',
      '/runs/r',
    ]) {
      expect((await request(own, p)).status, p).toBe(200);
    }
    await own.close();
    const after = { ...hashFiles(dir), ...hashFiles(path.join(dir, 'r')) };
    for (const [name, hash] of Object.entries(before)) expect(after[name], name).toBe(hash);
    const added = Object.keys(after).filter((n) => !(n in before));
    expect(
      added.every((n) => n === 'mmrun.sqlite-wal' || n === 'mmrun.sqlite-shm'),
      added.join(),
    ).toBe(true);
    expect(
      fs.existsSync(path.join(dir, 'mmrun.sqlite-wal')) ? fs.statSync(path.join(dir, 'mmrun.sqlite-wal')).size : 0,
    ).toBe(0);
  });

  it('reads a killed run as crashed without recording anything in the catalog', async () => {
    const cli = spawnMmrun(
      ['run', path.join(FIXTURES, 'ui-slow.ts'), '--id', 'killed-1', '--flush-interval', '0.1', '--quiet'],
      runsDir,
    );
    await waitFor(() => (peekRun(runsDir, 'killed-1')?.flushedRows ?? 0) > 0, 30_000, 'a flush');
    const running = (await request(ui, '/api/runs?status=running')).json() as unknown as { id: string }[];
    expect(running.map((r) => r.id)).toEqual(['killed-1']);
    // The chart of a live run, asked for as it grows: each request reads only the new rows.
    const drawn: number[] = [];
    for (let k = 0; k < 3; k++) {
      const seen = peekRun(runsDir, 'killed-1')?.flushedRows ?? 0;
      await waitFor(() => (peekRun(runsDir, 'killed-1')?.flushedRows ?? 0) > seen, 30_000, 'another flush');
      drawn.push(Number((await request(ui, '/api/runs/killed-1/series?column=x&points=400')).json().rows));
    }
    expect(drawn[2]).toBeGreaterThan(drawn[0]!);
    cli.child.kill('SIGKILL');
    await cli.exited;
    const r = await request(ui, '/api/runs/killed-1');
    expect(r.json().status).toBe('crashed');
    // Grown piece by piece, the chart is the one drawn from all the rows at once.
    const grown = (await request(ui, '/api/runs/killed-1/series?column=x&points=400')).json();
    const fresh = await startDashboard({ runsDir, port: 0 });
    try {
      const whole = (await request(fresh, '/api/runs/killed-1/series?column=x&points=400')).json();
      expect(grown.rows).toBe(r.json().flushedRows);
      expect(grown).toEqual(whole);
    } finally {
      await fresh.close();
    }
    // Detected, not recorded: the catalog (opened read-only) still says running.
    expect(peekRun(runsDir, 'killed-1')?.status).toBe('running');
  });
});

describe('ids and parameters', () => {
  it('refuses ids that are not run ids with 400, before anything touches the filesystem', async () => {
    for (const raw of [
      '/api/runs/..%2F..%2Fetc%2Fpasswd/log',
      '/api/runs/..%2Fmmrun.sqlite',
      '/api/runs/%2Fetc%2Fpasswd/series?column=x',
      '/api/runs/.hidden',
      '/api/runs/a%00b/log',
      '/runs/..%2F..%2Fetc',
    ]) {
      const r = await request(ui, raw);
      expect(r.status, raw).toBe(400);
      expect(r.json().error?.code, raw).toBe('BAD_RUN_ID');
      expect(r.body).not.toMatch(/root:|SQLite format/);
    }
    expect((await request(ui, '/api/runs/%E0%A4%A/log')).status).toBe(400);
  });

  it('never serves a file by path: dot segments and encoded slashes find nothing', async () => {
    for (const raw of [
      '/assets/../server.ts',
      '/assets/..%2Fserver.ts',
      '/assets/%2E%2E/server.ts',
      '/vendor/../../package.json',
      '/api/../../mmrun.sqlite',
      '/mmrun.sqlite',
      '/done-1/run.log',
      '//etc/passwd',
    ]) {
      const r = await request(ui, raw);
      expect(r.status, raw).toBe(404);
      expect(r.json().error?.code, raw).toBe('NOT_FOUND');
    }
  });

  it('answers an unknown run with 404 and an unknown column, bad numbers, unknown and repeated parameters with 400', async () => {
    const notFound = await request(ui, '/api/runs/no-such-run/series?column=x');
    expect(notFound.status).toBe(404);
    expect(notFound.json().error).toMatchObject({ code: 'RUN_NOT_FOUND' });
    expect(notFound.json().error?.message).toContain("no run 'no-such-run'");
    const cases: [string, string][] = [
      ['/api/runs?status=running,bogus', 'BAD_OPTION'],
      ['/api/runs/done-1/series?column=..%2F..%2Fetc%2Fpasswd', 'UNKNOWN_COLUMN'],
      ['/api/runs/done-1/series?column=x[3]', 'BAD_COLUMN_INDEX'],
      ['/api/runs/done-1/series', 'BAD_OPTION'],
      ['/api/runs/done-1/series?column=x&points=100000000', 'BAD_OPTION'],
      ['/api/runs/done-1/series?column=x&points=1e9', 'BAD_OPTION'],
      ['/api/runs/done-1/series?column=x&points=-5', 'BAD_OPTION'],
      ['/api/runs/done-1/series?column=x&points=3', 'BAD_OPTION'],
      ['/api/runs/done-1/series?column=x&points=10&points=20', 'BAD_OPTION'],
      ['/api/runs/done-1/series?column=x&path=/etc/passwd', 'BAD_OPTION'],
      ['/api/runs/done-1/histogram?column=x&bins=0', 'BAD_OPTION'],
      ['/api/runs/done-1/histogram?column=x&bins=99999999', 'BAD_OPTION'],
      ['/api/runs/done-1/log?tail=1000000', 'BAD_OPTION'],
      ['/api/runs/done-1/stats?columns=nope', 'UNKNOWN_COLUMN'],
      ['/api/runs/done-1/export?format=..%2F..%2Fetc%2Fpasswd', 'BAD_OPTION'],
      ['/api/runs/done-1/export?format=csv&rows=a:b', 'BAD_ROW_RANGE'],
    ];
    for (const [raw, code] of cases) {
      const r = await request(ui, raw);
      expect(r.status, raw).toBe(400);
      expect(r.headers['content-type'], raw).toMatch(/^application\/json/);
      expect(r.json().error?.code, raw).toBe(code);
      expect(typeof r.json().error?.message).toBe('string');
    }
    const unknown = await request(ui, '/api/nothing');
    expect(unknown.status).toBe(404);
    expect(unknown.json().error?.code).toBe('NOT_FOUND');
  });
});

describe('data', () => {
  it('returns every row of a short series, and a min/max reduction of at most `points` points that keeps the extremes', async () => {
    const reader = openRun('done-1', { runsDir });
    const xs = [...reader.column('x')] as number[];
    reader.close();
    const full = (await request(ui, '/api/runs/done-1/series?column=x&points=5000')).json();
    expect(full.downsampled).toBe(false);
    expect(full).toMatchObject({ rows: 3000, flushedRows: 3000 });
    expect(full.x).toEqual(xs.map((_, i) => i));
    expect(full.y).toEqual(xs);
    const small = (await request(ui, '/api/runs/done-1/series?column=x&points=40')).json() as unknown as {
      x: number[];
      y: number[];
      downsampled: boolean;
    };
    expect(small.downsampled).toBe(true);
    expect(small.x.length).toBeLessThanOrEqual(40);
    expect(Math.max(...small.y)).toBe(Math.max(...xs));
    expect(Math.min(...small.y)).toBe(Math.min(...xs));
    expect(small.x).toEqual([...small.x].sort((a, b) => a - b));
  });

  it('serves the histogram, stats, log tail and run as the CLI reports them', async () => {
    const hist = (await request(ui, '/api/runs/done-1/histogram?column=up')).json();
    expect(hist.counts).toHaveLength(2);
    expect(hist.total).toBe(3000);
    const stats = (await request(ui, '/api/runs/done-1/stats?columns=i,x')).json();
    const cliStats = await mmrun(['stats', 'done-1', '--columns', 'i,x', '--json'], runsDir);
    expect(stats).toEqual(JSON.parse(cliStats.stdout));
    expect((stats.columns as Record<string, { count: number; max: number }>).i).toMatchObject({
      count: 3000,
      max: 2999,
    });
    const log = (await request(ui, '/api/runs/done-1/log?tail=1')).json() as unknown as { lines: { msg: string }[] };
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]!.msg).toBe('run completed');
    const show = await mmrun(['show', 'done-1', '--json'], runsDir);
    const run = (await request(ui, '/api/runs/done-1')).json();
    const expected = JSON.parse(show.stdout) as Record<string, unknown>;
    expect({ ...run, events: undefined }).toEqual({ ...expected, events: undefined });
    expect((run.events as unknown[]).length).toBeGreaterThan(0);
    const list = await mmrun(['list', '--json'], runsDir);
    const apiList = (await request(ui, '/api/runs')).json() as unknown as { id: string }[];
    const cliDone = (JSON.parse(list.stdout) as { id: string }[]).find((r) => r.id === 'done-1');
    expect(apiList.find((r) => r.id === 'done-1')).toEqual(cliDone);
  });

  it('streams downloads byte-identical to `mmrun export`', async () => {
    const out = newDir();
    for (const format of ['npy', 'csv']) {
      const file = path.join(out, `done-1.${format}`);
      const cli = await mmrun(['export', 'done-1', '--format', format, '--out', file], runsDir);
      expect(cli.code, cli.stderr).toBe(0);
      const got = await new Promise<Buffer>((resolve, reject) => {
        http
          .get({ host: ui.host, port: ui.port, path: `/api/runs/done-1/export?format=${format}` }, (res) => {
            expect(res.statusCode).toBe(200);
            expect(res.headers['content-disposition']).toBe(`attachment; filename="done-1.${format}"`);
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () => resolve(Buffer.concat(parts)));
          })
          .on('error', reject);
      });
      expect(got.equals(fs.readFileSync(file)), format).toBe(true);
    }
  });

  it('pushes the runs as server-sent events', async () => {
    const first = await new Promise<string>((resolve, reject) => {
      const req = http.get({ host: ui.host, port: ui.port, path: '/api/events' }, (res) => {
        expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
          const m = /event: runs\ndata: (.*)\n\n/.exec(text);
          if (m) {
            req.destroy();
            resolve(m[1]!);
          }
        });
      });
      req.on('error', reject);
    });
    expect((JSON.parse(first) as { id: string }[]).map((r) => r.id)).toContain('done-1');
  });
});

describe('token on a non-loopback address', () => {
  it('requires the printed token (query, bearer or cookie) and still checks Host', async () => {
    // 127.0.0.2 is a loopback address to Linux but not the default: the dashboard treats it as "elsewhere".
    const remote = await startDashboard({ runsDir, host: '127.0.0.2', port: 0 });
    try {
      expect(remote.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(remote.url).toBe(`http://127.0.0.2:${remote.port}/?token=${remote.token}`);
      for (const raw of ['/api/runs', '/', '/assets/runs.js', '/api/events', '/api/runs?token=wrong']) {
        const r = await request(remote, raw);
        expect(r.status, raw).toBe(401);
        expect(r.json().error?.code).toBe('TOKEN_REQUIRED');
        expect(r.body).not.toContain('done-1');
      }
      expect((await request(remote, '/api/runs', { headers: { Authorization: 'Bearer nope' } })).status).toBe(401);
      const page = await request(remote, `/?token=${remote.token}`);
      expect(page.status).toBe(200);
      const cookie = String(page.headers['set-cookie']?.[0]).split(';')[0]!;
      expect(page.headers['set-cookie']?.[0]).toMatch(/HttpOnly; SameSite=Strict/);
      expect((await request(remote, '/api/runs', { headers: { Cookie: cookie } })).status).toBe(200);
      expect(
        (await request(remote, '/api/runs', { headers: { Authorization: `Bearer ${remote.token}` } })).status,
      ).toBe(200);
      const foreign = await request(remote, `/api/runs?token=${remote.token}`, { host: `127.0.0.1:${remote.port}` });
      expect(foreign.status).toBe(403);
    } finally {
      await remote.close();
    }
  });

  it('needs no token on the default address', () => {
    expect(ui.token).toBeUndefined();
    expect(ui.url).toBe(`http://127.0.0.1:${ui.port}/`);
  });
});

describe('sweeps', () => {
  it('/api/sweeps lists each sweep with its points; /api/sweeps/<id> one; unknown 404, bad id 400; nothing written', async () => {
    const dir = newDir();
    const made = await mmrun(
      [
        'sweep',
        path.join(FIXTURES, 'ui-slow.ts'),
        '--grid',
        'stepUs=0,1',
        '--seeds',
        '2',
        '--iterations',
        '500',
        '--id',
        'sw',
        '--quiet',
      ],
      dir,
    );
    expect(made.code, made.stderr).toBe(0);
    const before = hashFiles(dir, (name) => !name.includes('-wal') && !name.includes('-shm'));
    const server = await startDashboard({ runsDir: dir, port: 0, pollMs: 100 });
    try {
      const list = await request(server, '/api/sweeps');
      expect(list.status).toBe(200);
      const sweeps = JSON.parse(list.body) as { id: string; status: string; done: number; total: number }[];
      expect(sweeps.map((s) => [s.id, s.status, s.done, s.total])).toEqual([['sw', 'completed', 4, 4]]);
      const one = (await request(server, '/api/sweeps/sw')).json() as unknown as {
        points: { runId: string; params: Record<string, unknown>; seed: number; status: string; flushedRows: number }[];
      };
      expect(one.points.map((p) => [p.runId, p.params.stepUs, p.status, p.flushedRows])).toEqual([
        ['sw-p0000', 0, 'completed', 500],
        ['sw-p0001', 0, 'completed', 500],
        ['sw-p0002', 1, 'completed', 500],
        ['sw-p0003', 1, 'completed', 500],
      ]);
      const stats = (await request(server, '/api/sweeps/sw/stats?column=i')).json() as unknown as {
        column: string;
        keys: string[];
        sets: { params: Record<string, unknown>; replicates: number; mean: number; stderr: number | null }[];
      };
      expect(stats.column).toBe('i');
      expect(stats.keys).toEqual(['stepUs']);
      // i = 0..499 in every point: each set's mean is 249.5, with no spread over its 2 seeds.
      expect(stats.sets.map((x) => [x.params.stepUs, x.replicates, x.mean, x.stderr])).toEqual([
        [0, 2, 249.5, 0],
        [1, 2, 249.5, 0],
      ]);
      expect((await request(server, '/sweeps/sw')).status).toBe(200);
      expect((await request(server, '/sweeps/nope')).status).toBe(404);
      expect((await request(server, '/api/sweeps/sw/stats?column=nope')).status).toBe(400);
      expect((await request(server, '/api/sweeps/nope')).status).toBe(404);
      expect((await request(server, '/api/sweeps/..%2Fx')).status).toBe(400);
    } finally {
      await server.close();
    }
    expect(hashFiles(dir, (name) => !name.includes('-wal') && !name.includes('-shm'))).toEqual(before);
  });
});
