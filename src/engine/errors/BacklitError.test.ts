import { describe, expect, it } from 'vitest';
import { BacklitError, asNodeError, cancelledError, formatError, isCancelled } from './BacklitError';

describe('BacklitError', () => {
  it('formats where, what and the fix in one line', () => {
    expect(formatError({ code: 'no-images', nodeId: 'load', nodeType: 'Image Loader', field: 'source', message: 'No images matched.', fix: 'check the path.' })).toBe(
      'node "load" (Image Loader), field "source": No images matched. Fix: check the path.',
    );
    expect(formatError({ code: 'graph-not-object', message: 'Not an object.', fix: '' })).toBe('Not an object.');
    const e = new BacklitError({ code: 'graph-format', field: 'format', message: 'Wrong format.', fix: 'open a graph.' });
    expect(e.message).toBe('field "format": Wrong format. Fix: open a graph.');
    expect(e.info.code).toBe('graph-format');
    expect(e).toBeInstanceOf(Error);
  });

  it('asNodeError names the node for plain errors and keeps a BacklitError that already names one', () => {
    const wrapped = asNodeError(new Error('out of memory'), 'train', 'Enhancer Trainer');
    expect(wrapped.info).toMatchObject({ code: 'node-failed', nodeId: 'train', nodeType: 'Enhancer Trainer', message: 'out of memory.' });
    expect(asNodeError('a string', 'n', 'T').info.message).toBe('a string.');
    const own = new BacklitError({ code: 'no-images', nodeId: 'other', message: 'm.', fix: 'f.' });
    expect(asNodeError(own, 'n', 'T')).toBe(own);
    const anonymous = new BacklitError({ code: 'image-unreadable', message: 'bad file.', fix: 'f.' });
    expect(asNodeError(anonymous, 'load', 'Image Loader').info).toMatchObject({ code: 'image-unreadable', nodeId: 'load', nodeType: 'Image Loader' });
  });

  it('recognises cancellation', () => {
    expect(isCancelled(cancelledError())).toBe(true);
    expect(isCancelled(new Error('cancelled'))).toBe(false);
  });
});
