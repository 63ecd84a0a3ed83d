// `serve --tls-cert FILE --tls-key FILE`: HTTPS on loopback with a self-signed certificate made here
// by openssl (skipped without it), and one-line errors for a missing file, a file that is not PEM, an
// encrypted key, and a key that belongs to another certificate.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native.js';
import { startServer, type JudgeServer } from '../lib/serve/server.js';
import { checkTlsPair, TlsConfigError } from '../lib/serve/tls.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mtrl-tls-'));
const file = (n: string) => path.join(tmp, n);

/** A self-signed certificate for 127.0.0.1 / localhost (EC P-256: quick to make). */
function makePair(name: string): { cert: string; key: string } {
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`)],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { cert: file(`${name}.crt`), key: file(`${name}.key`) };
}

function request(url: string, opts: https.RequestOptions, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: body === undefined ? 'GET' : 'POST', headers: { 'content-type': 'application/json' }, ...opts }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Runs `mtrl-judge serve ARGS` until it exits (a bad flag) or prints its listening line. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'lib', 'cli', 'main.ts'), 'serve', '--port', '0', '--quiet', ...args], { cwd: packageRoot });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!killed && stdout.includes('listening on')) killed = child.kill('SIGTERM');
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!hasOpenssl)('serve over HTTPS (openssl makes the certificates; skipped without it)', () => {
  let a: { cert: string; key: string };
  let b: { cert: string; key: string };
  let srv: JudgeServer;
  beforeAll(async () => {
    a = makePair('a');
    b = makePair('b');
    srv = await startServer({ port: 0, tls: { cert: readFileSync(a.cert), key: readFileSync(a.key) } }); // rewards only: no model needed
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('answers over TLS to a client that trusts the certificate, and is refused by one that does not', async () => {
    expect(srv.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(a.cert);
    const h = await request(`${srv.url}/health`, { ca });
    expect(h.status).toBe(200);
    expect(h.json.status).toBe('ok');
    const r = await request(`${srv.url}/v1/rewards`, { ca }, { items: [{ completion: '<think>x</think><answer>unsafe</answer>', task: 'safety', label: 0 }] });
    expect(r.status).toBe(200);
    expect(r.json.rewards).toEqual([1]);
    await expect(request(`${srv.url}/health`, {})).rejects.toThrow(/self[- ]signed/i);
    await expect(request(`${srv.url}/health`, { ca: readFileSync(b.cert) })).rejects.toThrow(/self[- ]signed|verify|certificate/i);
    // Plain HTTP to the TLS port gets no HTTP answer.
    await expect(fetch(srv.url.replace('https', 'http') + '/health')).rejects.toThrow();
    expect((await request(`${srv.url}/health`, { ca })).status).toBe(200); // and the server is still up
  });

  it('checkTlsPair names the file at fault', () => {
    const cert = readFileSync(a.cert);
    const key = readFileSync(a.key);
    const which = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof TlsConfigError ? `${e.which}: ${e.message}` : `other: ${(e as Error).message}`;
      }
      return 'ok';
    };
    expect(which(() => checkTlsPair({ cert, key }))).toBe('ok');
    expect(which(() => checkTlsPair({ cert: 'hello', key }))).toMatch(/^cert: not a PEM X\.509 certificate/);
    expect(which(() => checkTlsPair({ cert: key, key }))).toMatch(/^cert: /);
    expect(which(() => checkTlsPair({ cert, key: cert }))).toMatch(/^key: not a PEM private key/);
    expect(which(() => checkTlsPair({ cert, key: readFileSync(b.key) }))).toMatch(/^pair: the private key does not belong to the certificate \(CN=localhost\)/);
  });

  it('the CLI serves HTTPS, and each bad file is one line that names its flag', async () => {
    const ok = await cli(['--tls-cert', a.cert, '--tls-key', a.key]);
    expect(ok.stdout).toMatch(/listening on https:\/\/127\.0\.0\.1:\d+ \(rewards only/);
    expect(ok.code).toBe(0); // SIGTERM: a clean exit

    writeFileSync(file('garbage.pem'), 'not a certificate\n');
    const enc = spawnSync('openssl', ['pkey', '-in', a.key, '-aes256', '-passout', 'pass:secret', '-out', file('enc.key')]);
    expect(enc.status).toBe(0);
    const cases: Array<[string[], RegExp]> = [
      [['--tls-cert', file('missing.pem'), '--tls-key', a.key], /^mtrl-judge: --tls-cert: cannot read .*missing\.pem: no such file/],
      [['--tls-cert', a.cert, '--tls-key', tmp], /^mtrl-judge: --tls-key: cannot read .*: it is a folder/],
      [['--tls-cert', file('garbage.pem'), '--tls-key', a.key], /^mtrl-judge: --tls-cert: .*garbage\.pem: not a PEM X\.509 certificate/],
      [['--tls-cert', a.cert, '--tls-key', file('enc.key')], /^mtrl-judge: --tls-key: .*enc\.key: the private key is encrypted/],
      [['--tls-cert', a.cert, '--tls-key', b.key], /^mtrl-judge: --tls-cert\/--tls-key: .*a\.crt and .*b\.key: the private key does not belong to the certificate/],
      [['--tls-cert', a.cert], /^mtrl-judge: --tls-cert: needs --tls-key too/],
    ];
    for (const [args, want] of cases) {
      const r = await cli(args);
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(want);
      expect(r.stdout).not.toMatch(/listening/);
    }
  }, 120_000);
});
