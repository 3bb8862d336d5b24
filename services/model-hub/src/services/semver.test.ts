import { describe, expect, it } from 'vitest';
import { compareSemver } from './semver.ts';

describe('compareSemver', () => {
  it('sorts by semver precedence, not by text', () => {
    const sorted = [
      '1.10.0',
      '1.2.0',
      '1.2.0-rc.1',
      '1.2.0-alpha',
      '1.2.0-alpha.10',
      '1.2.0-alpha.2',
      '0.9.9',
    ];
    expect([...sorted].sort(compareSemver)).toEqual([
      '0.9.9',
      '1.2.0-alpha',
      '1.2.0-alpha.2',
      '1.2.0-alpha.10',
      '1.2.0-rc.1',
      '1.2.0',
      '1.10.0',
    ]);
  });

  it('ignores build metadata', () => {
    expect(compareSemver('1.0.0+a', '1.0.0+b')).toBe(0);
  });
});
