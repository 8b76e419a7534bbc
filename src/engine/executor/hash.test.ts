import { describe, expect, it } from 'vitest';
import { canonicalJson, hashString } from './hash';

describe('canonicalJson', () => {
  it('sorts object keys at every depth but keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
  });

  it('tells apart values JSON.stringify would merge or drop', () => {
    expect(canonicalJson('1')).not.toBe(canonicalJson(1));
    expect(canonicalJson(undefined)).toBe('undefined');
  });
});

describe('hashString', () => {
  it('is deterministic, 14 hex digits, and sensitive to one character and to the seed', () => {
    const h = hashString('exposure@1|{"stops":1}');
    expect(h).toMatch(/^[0-9a-f]{14}$/);
    expect(hashString('exposure@1|{"stops":1}')).toBe(h);
    expect(hashString('exposure@1|{"stops":2}')).not.toBe(h);
    expect(hashString('exposure@1|{"stops":1}', 1)).not.toBe(h);
  });

  it('has no collisions over a few thousand similar keys', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) seen.add(hashString(`node|{"factor":${i}}`));
    expect(seen.size).toBe(5000);
  });
});
