import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { experimental } from '@grpc/grpc-js';
import { ConfigError, assertPrivateKeyFileMode, errorMessage, type Logger } from '@flotilla/shared';
import type { TlsFiles } from '../auth/config.js';

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** The files read at one moment: PEM bytes of the certificate, key and CA. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

/**
 * Reads and checks the TLS files: the key's mode, that each parses, and that the key belongs to
 * the certificate. A bad set is refused whole, so a half-written renewal never replaces a good one.
 */
export async function readTlsMaterial(files: TlsFiles): Promise<TlsMaterial> {
  assertPrivateKeyFileMode(files.key, 'tls.key');
  const [cert, key, ca] = await Promise.all([readFile(files.cert), readFile(files.key), readFile(files.ca)]);
  try {
    const x = new X509Certificate(cert);
    new X509Certificate(ca);
    if (!x.checkPrivateKey(createPrivateKey(key))) throw new Error(`${files.key} is not the key of ${files.cert}`);
  } catch (err) {
    throw new ConfigError(`tls: ${errorMessage(err)}`, { cause: err });
  }
  return { cert, key, ca };
}

/**
 * A grpc-js certificate provider that serves the controller's certificate and CA, and swaps
 * them on reload() (SIGHUP) or when a watched file changes. New connections get the new
 * certificate; open ones keep theirs until they reconnect.
 */
export class ReloadableTls implements CertificateProvider {
  private material: TlsMaterial;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | undefined;

  private constructor(
    private readonly files: TlsFiles,
    initial: TlsMaterial,
    private readonly logger: Logger,
  ) {
    this.material = initial;
  }

  static async load(files: TlsFiles, logger: Logger): Promise<ReloadableTls> {
    return new ReloadableTls(files, await readTlsMaterial(files), logger);
  }

  get current(): TlsMaterial {
    return this.material;
  }

  /** Rereads the files; keeps serving the old set (and says why) when the new one is bad. */
  async reload(): Promise<boolean> {
    try {
      const next = await readTlsMaterial(this.files);
      this.material = next;
      for (const l of this.identityListeners) l({ certificate: next.cert, privateKey: next.key });
      for (const l of this.caListeners) l({ caCertificate: next.ca });
      this.logger.info({ cert: this.files.cert }, 'TLS certificates reloaded');
      return true;
    } catch (err) {
      this.logger.error({ err }, 'TLS reload refused; still serving the previous certificates');
      return false;
    }
  }

  /** Reloads shortly after any of the files changes (renewal tools write several files). */
  watchFiles(): void {
    for (const path of [this.files.cert, this.files.key, this.files.ca]) {
      try {
        const w = watch(path, () => {
          clearTimeout(this.debounce);
          this.debounce = setTimeout(() => void this.reload(), 500);
          this.debounce.unref();
        });
        w.unref();
        this.watchers.push(w);
      } catch (err) {
        this.logger.warn({ err, path }, 'cannot watch a TLS file; reload with SIGHUP');
      }
    }
  }

  close(): void {
    clearTimeout(this.debounce);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    // Later, not now: grpc-js registers its server's watcher only after adding this listener,
    // and a synchronous answer would reach no watcher (the server would drop every connection).
    queueMicrotask(() => listener({ caCertificate: this.material.ca }));
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => listener({ certificate: this.material.cert, privateKey: this.material.key }));
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}
