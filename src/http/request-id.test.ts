import { describe, expect, it } from 'vitest';
import { seededRandom } from '../core/random.js';
import { acceptRequestId, newRequestId } from './request-id.js';

describe('acceptRequestId', () => {
  it.each(['a', 'abc-123', 'A.b_c:d-e', '0'.repeat(128), 'f47ac10b-58cc-4372-a567-0e02b2c3d479'])('ok/accepts %s', (id) => {
    expect(acceptRequestId(id)).toBe(id);
  });

  it.each(['', '0'.repeat(129), 'a b', 'a/b', 'a\nb', 'é', 'a,b', 'a;b', '<script>'])('error/rejects %j', (id) => {
    expect(acceptRequestId(id)).toBeUndefined();
  });

  it('error/absent header', () => {
    expect(acceptRequestId(undefined)).toBeUndefined();
  });
});

describe('newRequestId', () => {
  it('ok/32 hex characters, accepted by acceptRequestId', () => {
    const id = newRequestId(seededRandom(1));
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(acceptRequestId(id)).toBe(id);
  });

  it('ok/different each time', () => {
    const r = seededRandom(2);
    expect(newRequestId(r)).not.toBe(newRequestId(r));
  });
});
