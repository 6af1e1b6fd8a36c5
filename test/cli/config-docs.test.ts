import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { collectRows, DOC_PATH, END, renderReference, spliceReference, START, undocumentedKeys } from '../../scripts/gen-config-docs.js';

describe('docs/config.md key reference (npm run docs:config)', () => {
  it('error/docs/config.md is stale: run npm run docs:config', () => {
    const current = readFileSync(DOC_PATH, 'utf8');
    expect(current).toContain(START);
    expect(current).toContain(END);
    expect(spliceReference(current, renderReference())).toBe(current);
  });

  it('error/every schema key has a description (scripts/config-descriptions.ts or .describe())', () => {
    expect(undocumentedKeys()).toEqual([]);
  });

  it('ok/the walker reads types, defaults, enum values, nesting and .describe() from a schema', () => {
    const schema = z.strictObject({
      mode: z.enum(['a', 'b']).default('a').describe('the mode'),
      wait: z.string().refine(() => true, { error: 'expected a duration like "1s"' }).optional(),
      inner: z.strictObject({ n: z.number().int().min(1).default(3) }).prefault({}),
      list: z.array(z.strictObject({ url: z.string() })).min(1),
    });
    const rows = collectRows(schema as unknown as Parameters<typeof collectRows>[0]);
    expect(rows.map((r) => [r.path, r.type, r.default])).toEqual([
      ['mode', '`a` \\| `b`', '`a`'],
      ['wait', 'duration', '—'],
      ['inner', 'mapping', '(defaults below)'],
      ['inner.n', 'integer (≥ 1)', '`3`'],
      ['list[]', 'list of mappings', 'required'],
      ['list[].url', 'string', 'required'],
    ]);
    expect(rows[0]?.description).toBe('the mode');
  });

  it('ok/prose outside the markers is kept', () => {
    const doc = `# Title\n\nprose\n\n${START}\nold\n${END}\n\nmore prose\n`;
    expect(spliceReference(doc, 'NEW')).toBe(`# Title\n\nprose\n\n${START}\nNEW\n${END}\n\nmore prose\n`);
    expect(() => spliceReference('no markers', 'x')).toThrow(/markers/);
  });
});
