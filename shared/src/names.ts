import { ValidationError } from './errors.js';

/**
 * Names double as JetStream KV keys, NATS subject tokens and directory names, so they are kept to
 * a conservative alphabet. Versions allow dots (1.4.2) but no `..` and no leading dot, so that a
 * version can never name a parent directory.
 */
export const APP_NAME = /^[a-z0-9](?:[a-z0-9_-]{0,62})$/;
export const VERSION = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9_-])?$/;
export const HOST_ID = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,127})$/;
export const LABEL_KEY = /^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,62})$/;
export const LABEL_VALUE = /^[A-Za-z0-9._-]{0,63}$/;
export const SHA256_HEX = /^[0-9a-f]{64}$/;

export function assertAppName(name: string): string {
  if (!APP_NAME.test(name)) {
    throw new ValidationError(
      `app name "${name}" is invalid: use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit`,
    );
  }
  return name;
}

export function assertVersion(version: string): string {
  if (!VERSION.test(version) || version.includes('..')) {
    throw new ValidationError(
      `version "${version}" is invalid: use 1-63 letters, digits, '.', '-' or '_', starting with a letter or digit, not ending with '.', without '..'`,
    );
  }
  return version;
}

export function assertHostId(id: string): string {
  if (!HOST_ID.test(id)) {
    throw new ValidationError(
      `host id "${id}" is invalid: use 1-128 letters, digits, '-' or '_', starting with a letter or digit`,
    );
  }
  return id;
}

/** Turns a hostname into a valid host id (dots and other characters become '-'). */
export function hostIdFromHostname(hostname: string): string {
  const cleaned = hostname.replace(/[^A-Za-z0-9_-]/g, '-').replace(/^[-_]+/, '').slice(0, 128);
  return cleaned.length > 0 ? cleaned : 'host';
}

/** Parses `APP@VERSION`. */
export function parseAppVersion(spec: string): { app: string; version: string } {
  const at = spec.indexOf('@');
  if (at <= 0 || at === spec.length - 1) {
    throw new ValidationError(`"${spec}" is not APP@VERSION (for example web@1.4.2)`);
  }
  return { app: assertAppName(spec.slice(0, at)), version: assertVersion(spec.slice(at + 1)) };
}
