import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@flotilla/shared';
import { agentConfigSchema } from './config.js';

// deploy/config/agent.yaml is what the package installs and operators start from: it must be a
// valid config as shipped, and so must each commented example once uncommented.
const EXAMPLE = fileURLToPath(new URL('../../deploy/config/agent.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'flotilla-agent-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Loads `yaml` against the agent's schema (key files and certificates are not read). */
function load(yaml: string) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig({ program: 'flotilla-agent', schema: agentConfigSchema, file, environment: {} });
}

/** Uncomments every commented block that starts with `# traffic:` (and the lines under it). */
function withTrafficUncommented(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let block: string | null = null;
  for (const line of lines) {
    const start = /^(\s*)# traffic:/.exec(line);
    if (start) {
      block = start[1] as string;
      out.push(line.replace(`${block}# `, block));
    } else if (block !== null && line.startsWith(`${block}#   `)) {
      out.push(line.replace(`${block}# `, block));
    } else {
      block = null;
      out.push(line);
    }
  }
  return out.join('\n');
}

describe('the shipped agent config', () => {
  it('is valid as installed', () => {
    const c = load(readFileSync(EXAMPLE, 'utf8'));
    expect(c.hostId).toBe('web-01');
    expect(c.traffic.balancer).toBe('none');
  });

  it('is valid with its gray-release examples uncommented, and they say what docs/traffic.md says', () => {
    const text = withTrafficUncommented(readFileSync(EXAMPLE, 'utf8'));
    expect(text).not.toBe(readFileSync(EXAMPLE, 'utf8'));
    const c = load(text);
    expect(c.traffic).toMatchObject({ balancer: 'nginx', nginx: { includeDir: '/etc/nginx/flotilla', reloadCommand: 'systemctl reload nginx' } });
    expect(c.apps.web?.traffic).toMatchObject({ slots: [{ port: 9081 }, { port: 9082 }], nginx: { upstream: 'flotilla_web' } });
  });
});
