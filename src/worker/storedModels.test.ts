import { describe, expect, it } from 'vitest';
import { findSet, missingModelError, modelRef, paramRef, parseModelRef, safeModelName, type ModelSet } from './storedModels';

const sha = 'c3ee3472a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbcc';
const pth: ModelSet = { id: sha, name: 'rave_unpaired', kind: 'enhancer', format: 'pth', files: [{ name: 'rave_unpaired.pth', size: 1127691, sha256: sha }], source: 'drop', addedAt: 0 };
const clip: ModelSet = { id: 'ab'.repeat(32), name: 'clip-vit-b32', kind: 'clip', format: 'clip', files: [], source: 'folder picker', addedAt: 0 };

describe('stored-model references', () => {
  it('name a set by kind, name and 16 hex digits of its hash; single-file weights add the file', () => {
    expect(modelRef(pth)).toBe('model:enhancer/rave_unpaired@c3ee3472a1b2c3d4');
    expect(paramRef(pth)).toBe('model:enhancer/rave_unpaired@c3ee3472a1b2c3d4/rave_unpaired.pth');
    expect(paramRef({ ...pth, format: 'tfjs' })).toBe('model:enhancer/rave_unpaired@c3ee3472a1b2c3d4');
    expect(paramRef(clip)).toBe(`model:clip/clip-vit-b32@${'ab'.repeat(8)}`);
  });

  it('parse back, and find the set by kind and hash prefix (not by name)', () => {
    expect(parseModelRef(paramRef(pth))).toEqual({ kind: 'enhancer', name: 'rave_unpaired', hash: 'c3ee3472a1b2c3d4', file: 'rave_unpaired.pth' });
    expect(parseModelRef('model:clip/x@abcdef01')).toEqual({ kind: 'clip', name: 'x', hash: 'abcdef01', file: undefined });
    expect(parseModelRef('models/tiny-clip')).toBeUndefined();
    expect(parseModelRef('model:other/x@abcdef01')).toBeUndefined();
    expect(findSet([pth, clip], parseModelRef(paramRef(pth))!)).toBe(pth);
    expect(findSet([pth], { kind: 'enhancer', name: 'rave_unpaired', hash: 'ffffffffffffffff' })).toBeUndefined();
    expect(findSet([pth], { kind: 'clip', name: 'rave_unpaired', hash: 'c3ee3472a1b2c3d4' })).toBeUndefined();
  });

  it('a missing model names the field, the file, its hash and how to add it; a same-named other version is mentioned', () => {
    const e = missingModelError({ kind: 'enhancer', name: 'rave_unpaired', hash: 'ffffffffffffffff', file: 'rave_unpaired.pth' }, [pth]).info;
    expect(e.field).toBe('weights');
    expect(e.message).toBe('This graph needs the enhancer weights "rave_unpaired.pth" (sha256 ffffffffffffffff…), which is not stored in this browser (a different "rave_unpaired", sha256 c3ee3472a1b2c3d4…, is).');
    expect(e.fix).toMatch(/drop the file on it or use "Weights…"/);
    const c = missingModelError({ kind: 'clip', name: 'clip-vit-b32', hash: '0123456789abcdef' }, []).info;
    expect(c.field).toBe('source');
    expect(c.message).toMatch(/the CLIP model "clip-vit-b32" \(sha256 0123456789abcdef…\), which is not stored in this browser\.$/);
    expect(c.fix).toMatch(/CLIP folder…/);
  });

  it('names in references cannot contain "/" or "@"', () => {
    expect(safeModelName('a/b@c')).toBe('a_b_c');
    expect(safeModelName('  ')).toBe('model');
  });
});
