import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { ConfigError, errorMessage } from './errors.js';

/** Where each environment variable goes in the config object, and how to read its text. */
export interface EnvBinding {
  path: string;
  kind?: 'string' | 'number' | 'list' | 'boolean';
}

export interface LoadConfigOptions<S extends z.ZodType> {
  /** Program name, for messages ("flotilla-agent config: ..."). */
  program: string;
  schema: S;
  /** Path of a YAML (or JSON) config file; optional. */
  file?: string | undefined;
  /** Environment variables to read, e.g. { FLOTILLA_NATS_SERVERS: { path: 'nats.servers', kind: 'list' } }. */
  env?: Readonly<Record<string, EnvBinding>>;
  /** The process environment (injected for tests). */
  environment?: Readonly<Record<string, string | undefined>>;
  /** Values from command-line flags, already shaped like the config; they win over everything. */
  overrides?: Record<string, unknown>;
}

/**
 * Builds a program's configuration from, in rising priority: the schema's defaults, the config
 * file, FLOTILLA_* environment variables and command-line flags. The result is validated once and
 * frozen; every problem is reported with the field's path and where the value came from.
 */
export function loadConfig<S extends z.ZodType>(opts: LoadConfigOptions<S>): Readonly<z.output<S>> {
  let merged: Record<string, unknown> = {};
  if (opts.file) merged = deepMerge(merged, readConfigFile(opts.program, opts.file));
  const environment = opts.environment ?? process.env;
  for (const [name, binding] of Object.entries(opts.env ?? {})) {
    const raw = environment[name];
    if (raw === undefined || raw === '') continue;
    setPath(merged, binding.path, envValue(opts.program, name, raw, binding.kind ?? 'string'));
  }
  if (opts.overrides) merged = deepMerge(merged, stripUndefined(opts.overrides));
  const r = opts.schema.safeParse(merged);
  if (!r.success) {
    const problems = r.error.issues
      .slice(0, 8)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new ConfigError(`${opts.program} config is invalid: ${problems}`, {
      details: { file: opts.file, issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  return deepFreeze(r.data);
}

export function readConfigFile(program: string, file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${program}: cannot read config file ${file}: ${errorMessage(err)}`, { cause: err });
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${program}: config file ${file} is not valid YAML: ${errorMessage(err)}`, { cause: err });
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${program}: config file ${file} must hold a mapping of settings`);
  }
  return value as Record<string, unknown>;
}

function envValue(program: string, name: string, raw: string, kind: NonNullable<EnvBinding['kind']>): unknown {
  switch (kind) {
    case 'string':
      return raw;
    case 'number': {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new ConfigError(`${program}: ${name}="${raw}" is not a number`);
      return n;
    }
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new ConfigError(`${program}: ${name}="${raw}" is not a boolean (true/false)`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const cur = out[k];
    out[k] = isPlainObject(cur) && isPlainObject(v) ? deepMerge(cur, v) : v;
  }
  return out;
}

function stripUndefined(v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    out[k] = isPlainObject(x) ? stripUndefined(x) : x;
  }
  return out;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = target;
  for (const key of keys.slice(0, -1)) {
    if (!isPlainObject(cur[key])) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1] as string] = value;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

/**
 * A config field holding a duration (`30s`, `5m`, or milliseconds as a number), parsed to
 * milliseconds; a bad one is reported under `what`, the setting's name.
 */
export function durationSchema(what: string) {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return parseDuration(v, what);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: errorMessage(err) });
      return z.NEVER;
    }
  });
}
