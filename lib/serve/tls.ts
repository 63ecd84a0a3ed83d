// HTTPS for `mtrl-judge serve --tls-cert FILE --tls-key FILE`: the certificate and key are checked
// before the model loads, each with an error that names the file at fault.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import tls from 'node:tls';

export interface TlsFiles {
  /** PEM certificate (a chain: the server's certificate first). */
  cert: string | Buffer;
  /** PEM private key, unencrypted. */
  key: string | Buffer;
}

/** A certificate or key that cannot serve: `which` says which file is at fault ("pair": they do not match). */
export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
  constructor(
    readonly which: 'cert' | 'key' | 'pair',
    message: string,
  ) {
    super(message);
  }
}

const reason = (e: unknown) => ((e as Error)?.message ?? String(e)).replace(/^error:[0-9A-F]+:/, '').replace(/\s+/g, ' ').trim();

/** Checks that cert and key are readable PEM and belong together; returns the certificate. */
export function checkTlsPair(t: TlsFiles): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(t.cert);
  } catch (e) {
    throw new TlsConfigError('cert', `not a PEM X.509 certificate (${reason(e)})`);
  }
  const pem = t.key.toString();
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: *4,ENCRYPTED/.test(pem))
    throw new TlsConfigError('key', 'the private key is encrypted; give an unencrypted PEM key (openssl pkey -in KEY -out plain.pem)');
  let key;
  try {
    key = createPrivateKey(t.key);
  } catch (e) {
    throw new TlsConfigError('key', `not a PEM private key (${reason(e)})`);
  }
  if (!cert.checkPrivateKey(key)) throw new TlsConfigError('pair', `the private key does not belong to the certificate (${cert.subject.replace(/\n/g, ', ')})`);
  try {
    tls.createSecureContext({ cert: t.cert, key: t.key });
  } catch (e) {
    throw new TlsConfigError('pair', `the certificate and key cannot be used together (${reason(e)})`);
  }
  return cert;
}
