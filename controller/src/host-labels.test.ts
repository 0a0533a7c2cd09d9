import { describe, expect, it } from 'vitest';
import { DEFAULT_LABEL_POLICY, resolveLabels } from './host-labels.js';

describe('resolveLabels', () => {
  it('takes the host at its word by default, without a copy', () => {
    const claimed = { env: 'prod', zone: 'a' };
    const r = resolveLabels('web-01', claimed, DEFAULT_LABEL_POLICY);
    expect(r.labels).toBe(claimed);
    expect(r.refused).toEqual({});
  });

  it('does not believe a pinned label the operator did not give, and shows it as refused', () => {
    const policy = { trustHostLabels: true, pinnedKeys: ['env'], operatorLabels: { 'web-01': { env: 'prod' } } };
    expect(resolveLabels('web-01', { env: 'prod', zone: 'a' }, policy)).toEqual({ labels: { env: 'prod', zone: 'a' }, refused: {} });
    // web-02 claims env=prod: the operator never said so.
    expect(resolveLabels('web-02', { env: 'prod', zone: 'b' }, policy)).toEqual({ labels: { zone: 'b' }, refused: { env: 'prod' } });
    // The operator's value wins over a different claim.
    expect(resolveLabels('web-01', { env: 'staging' }, policy)).toEqual({ labels: { env: 'prod' }, refused: { env: 'staging' } });
  });

  it('believes only the operator when host labels are not trusted', () => {
    const policy = { trustHostLabels: false, pinnedKeys: [], operatorLabels: { 'db-1': { role: 'db' } } };
    expect(resolveLabels('db-1', { role: 'db', zone: 'c' }, policy)).toEqual({ labels: { role: 'db' }, refused: { zone: 'c' } });
    expect(resolveLabels('other', { role: 'db' }, policy)).toEqual({ labels: {}, refused: { role: 'db' } });
  });
});
