import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONCEPT_GROUPS, DEFAULT_CONCEPTS, parsePhraseList } from './concepts';

const TXT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../public/vocab/concepts.txt');

describe('default concept list', () => {
  it('is public/vocab/concepts.txt, entry for entry and in order', () => {
    expect(DEFAULT_CONCEPTS).toEqual(parsePhraseList(readFileSync(TXT, 'utf8')));
  });

  it('has ~100 unique entries in lighting, colour, scene, subject and style groups', () => {
    expect(DEFAULT_CONCEPTS.length).toBeGreaterThanOrEqual(90);
    expect(DEFAULT_CONCEPTS.length).toBeLessThanOrEqual(130);
    expect(new Set(DEFAULT_CONCEPTS).size).toBe(DEFAULT_CONCEPTS.length);
    expect(Object.keys(CONCEPT_GROUPS)).toEqual(['lighting', 'colour', 'scene', 'subject', 'photo style']);
    for (const c of ['sunset', 'blue sky', 'orange', 'indoor', 'people', 'backlit']) expect(DEFAULT_CONCEPTS).toContain(c);
  });
});

describe('parsePhraseList', () => {
  it('splits on commas and new lines, trims, drops empties, comments and duplicates', () => {
    expect(parsePhraseList(' sunset, blue  sky\n# a comment\n\norange,,sunset\r\nindoor ')).toEqual(['sunset', 'blue sky', 'orange', 'indoor']);
    expect(parsePhraseList('')).toEqual([]);
    expect(parsePhraseList('#3, #5\n#\n# note')).toEqual(['#3', '#5']); // token ids are entries, "# …" is a comment
  });
});
