import { describe, expect, it } from 'vitest';
import { advertisedAddress, isWildcardHost, parseAdvertise } from './advertise.js';

describe('advertise', () => {
  it('refuses wildcards, ports and names that are not hosts, and takes names and addresses', () => {
    for (const bad of ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0', '', ' ']) expect(() => parseAdvertise(bad)).toThrow();
    expect(() => parseAdvertise('0.0.0.0')).toThrow(/every interface/);
    expect(() => parseAdvertise('ctl-1.example:7400')).toThrow(/has a port/);
    expect(() => parseAdvertise('ctl_1.example')).toThrow(/neither a DNS name nor an IP address/);
    expect(() => parseAdvertise('-ctl.example')).toThrow(/neither/);
    expect(parseAdvertise('ctl-1.example')).toBe('ctl-1.example');
    expect(parseAdvertise(' 10.0.0.7 ')).toBe('10.0.0.7');
    expect(parseAdvertise('[fd00::7]')).toBe('fd00::7');
    expect(parseAdvertise('fd00::7')).toBe('fd00::7');
  });

  it('advertises the setting, else the listener, else the machine name for a wildcard listener', () => {
    expect(advertisedAddress('0.0.0.0', 7400, 'ctl-1.example', 'box')).toEqual({ address: 'ctl-1.example:7400', guessed: false });
    expect(advertisedAddress('10.0.0.7', 7401, undefined, 'box')).toEqual({ address: '10.0.0.7:7401', guessed: false });
    expect(advertisedAddress('::1', 7400, undefined, 'box')).toEqual({ address: '[::1]:7400', guessed: false });
    expect(advertisedAddress('0.0.0.0', 7401, undefined, 'ctl-2')).toEqual({ address: 'ctl-2:7401', guessed: true });
    expect(advertisedAddress('::', 7400, 'fd00::7', 'box')).toEqual({ address: '[fd00::7]:7400', guessed: false });
    // A machine name nobody else can use falls back to loopback (and the start log says so).
    expect(advertisedAddress('0.0.0.0', 7401, undefined, 'localhost')).toEqual({ address: '127.0.0.1:7401', guessed: true });
    expect(isWildcardHost('127.0.0.1')).toBe(false);
  });
});
