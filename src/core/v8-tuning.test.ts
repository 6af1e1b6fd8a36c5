import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { GATEWAY_V8_FLAGS, tuneV8ForGateway } from './v8-tuning.js';

describe('tuneV8ForGateway', () => {
  it('names only flags this Node knows (V8 ignores unknown ones silently)', () => {
    const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    for (const flag of GATEWAY_V8_FLAGS) {
      const name = flag.replace(/^--(no-)?/, '');
      expect(options).toMatch(new RegExp(`^\\s+--${name} `, 'm'));
    }
  });

  it('applies the flags by default', () => {
    expect(tuneV8ForGateway({})).toEqual(GATEWAY_V8_FLAGS);
  });

  it('leaves V8 alone with TOLLGATE_V8_DEFAULTS=1', () => {
    expect(tuneV8ForGateway({ TOLLGATE_V8_DEFAULTS: '1' })).toEqual([]);
  });
});
