import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { command, REPO_ROOT } from './package-install.js';

// The Alertmanager and Prometheus examples in deploy/alertmanager/, checked by the tools that will
// read them (Debian's prometheus-alertmanager and prometheus packages ship amtool and promtool).

const DIR = join(REPO_ROOT, 'deploy', 'alertmanager');
const CONFIG = join(DIR, 'alertmanager.yml');

/** The receivers Alertmanager would notify for an alert with these labels. */
async function receivers(...labels: string[]): Promise<string[]> {
  const r = await command('amtool', ['config', 'routes', 'test', `--config.file=${CONFIG}`, ...labels]);
  if (r.code !== 0) throw new Error(`amtool config routes test failed:\n${r.stdout}${r.stderr}`);
  return r.stdout.trim().split(',').sort();
}

describe('the Alertmanager example', () => {
  it('passes amtool check-config', async () => {
    const r = await command('amtool', ['check-config', CONFIG]);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });

  it('sends an alert that names an app to Flotilla and to the usual receivers as well', async () => {
    expect(await receivers('app=demo', 'alertname=HighErrorRate')).toEqual(['default', 'flotilla']);
  });

  it('keeps alerts without an app label away from Flotilla', async () => {
    expect(await receivers('alertname=DiskFull', 'severity=warning')).toEqual(['default']);
  });
});

describe('the example alerting rules', () => {
  it('pass promtool check rules', async () => {
    const r = await command('promtool', ['check', 'rules', join(DIR, 'prometheus-rules.yml')]);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });
});
