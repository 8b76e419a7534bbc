import { describe, expect, it } from 'vitest';
import { classify, formatBytes } from './library';

const file = (name: string, size = 4, folder?: string) => {
  const f = new File([new Uint8Array(size)], name);
  if (folder) Object.defineProperty(f, 'webkitRelativePath', { value: `${folder}/${name}` });
  return f;
};

describe('classifying picked/dropped model files', () => {
  it('one .pth or .safetensors is enhancer weights named after the file', () => {
    expect(classify([file('rave_unpaired.pth')], 'enhancer')).toMatchObject({ kind: 'enhancer', format: 'pth', name: 'rave_unpaired' });
    expect(classify([file('mine.safetensors'), file('.DS_Store')], 'enhancer')).toMatchObject({ format: 'safetensors', name: 'mine', files: [expect.objectContaining({ name: 'mine.safetensors' })] });
  });

  it('model.json with its .bin is a tfjs enhancer; without the .bin it says what is missing', () => {
    const c = classify([file('model.json'), file('weights.bin')], 'enhancer');
    expect(c).toMatchObject({ kind: 'enhancer', format: 'tfjs', name: 'tfjs-enhancer' });
    expect(c.files.map((f) => f.name)).toEqual(['model.json', 'weights.bin']);
    expect(() => classify([file('model.json')], 'enhancer')).toThrow(/needs its weights file \(\.bin\)/);
  });

  it('refuses several weights files and non-weights with the reason', () => {
    expect(() => classify([file('a.pth'), file('b.pth')], 'enhancer')).toThrow(/2 weights files were given \(a\.pth, b\.pth\)/);
    expect(() => classify([file('notes.txt')], 'enhancer')).toThrow(/None of "notes\.txt" is enhancer weights/);
  });

  it('a CLIP folder keeps its model files, drops the rest, and is named after the folder', () => {
    const c = classify([file('config.json', 4, 'clip-vit-b32'), file('model.safetensors', 4, 'clip-vit-b32'), file('tokenizer.json', 4, 'clip-vit-b32'), file('README.md', 4, 'clip-vit-b32')], 'clip');
    expect(c).toMatchObject({ kind: 'clip', format: 'clip', name: 'clip-vit-b32' });
    expect(c.files.map((f) => f.name)).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    expect(() => classify([file('config.json'), file('pytorch_model.bin')], 'clip')).toThrow(/model\.safetensors is missing .*converted to safetensors/);
  });

  it('formats sizes', () => {
    expect([formatBytes(512), formatBytes(1536), formatBytes(1127691), formatBytes(605 * 2 ** 20), formatBytes(3 * 2 ** 30)]).toEqual(['512 B', '1.5 KiB', '1.1 MiB', '605.0 MiB', '3.00 GiB']);
  });
});
