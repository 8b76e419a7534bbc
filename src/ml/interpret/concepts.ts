/**
 * The default concept vocabulary of the interpreter and bias-correction nodes: lighting, colour,
 * scene, subject and photo-style phrases. `public/vocab/concepts.txt` is the documented, editable
 * source; this copy is what the nodes use (no Host call needed, works in the CLI and the browser),
 * and `concepts.test.ts` keeps the two identical.
 */
export const CONCEPT_GROUPS: Readonly<Record<string, readonly string[]>> = {
  'lighting': [
    'backlit', 'backlight', 'silhouette', 'well-lit', 'bright', 'dark', 'dim', 'shadow', 'shadows',
    'overexposed', 'underexposed', 'high contrast', 'low contrast', 'glare', 'lens flare', 'sunlight',
    'sunny', 'sunset', 'sunrise', 'golden hour', 'dusk', 'night', 'daylight', 'overcast', 'harsh light',
    'soft light', 'haze', 'fog', 'studio lighting', 'flash photography',
  ],
  'colour': [
    'orange', 'yellow', 'red', 'blue', 'green', 'purple', 'pink', 'white', 'black', 'gray', 'brown',
    'warm colors', 'cool colors', 'saturated', 'colorful', 'pale', 'monochrome', 'sepia', 'vivid', 'pastel',
  ],
  'scene': [
    'blue sky', 'sky', 'clouds', 'sun', 'beach', 'sea', 'ocean', 'mountain', 'forest', 'field', 'grass',
    'snow', 'desert', 'lake', 'river', 'water', 'city', 'street', 'building', 'architecture', 'indoor',
    'outdoor', 'room', 'window', 'kitchen', 'park', 'garden', 'road', 'landscape',
  ],
  'subject': [
    'people', 'person', 'face', 'portrait', 'man', 'woman', 'child', 'crowd', 'dog', 'cat', 'animal', 'bird',
    'flower', 'tree', 'plant', 'food', 'fruit', 'car', 'furniture', 'statue',
  ],
  'photo style': [
    'a photo', 'a blurry photo', 'a sharp photo', 'a noisy photo', 'a low-quality photo',
    'a high-quality photo', 'a professional photo', 'an old photo', 'a painting', 'a drawing',
  ],
};

export const DEFAULT_CONCEPTS: readonly string[] = Object.values(CONCEPT_GROUPS).flat();

/**
 * A user list → phrases: newline- or comma-separated, trimmed, empty entries and `# ` comment lines
 * dropped, duplicates removed (first kept).
 */
export function parsePhraseList(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    // "# …" lines are comments; "#5" (a token id of the tokens vocabulary) is an entry.
    if (/^#(\s|$)/.test(line.trim())) continue;
    for (const part of line.split(',')) {
      const phrase = part.trim().replace(/\s+/g, ' ');
      if (phrase && !seen.has(phrase)) {
        seen.add(phrase);
        out.push(phrase);
      }
    }
  }
  return out;
}
