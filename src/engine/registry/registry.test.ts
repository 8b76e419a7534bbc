import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NodeRegistry, registryFromModules } from './registry';
import { defineNode, type AnyNodeDefinition } from '../nodes/defineNode';

const def = (type: string) =>
  defineNode({
    type, title: type.toUpperCase(), category: 'Image', description: '',
    inputs: {}, outputs: {},
    params: z.object({ amount: z.number().min(0).max(4).default(1).describe('How much.'), mode: z.enum(['a', 'b']).default('a') }),
    run: async () => ({}),
  }) as AnyNodeDefinition;

describe('NodeRegistry', () => {
  it('lists types sorted and refuses a type defined twice', () => {
    const reg = new NodeRegistry([def('zeta'), def('alpha')]);
    expect(reg.types()).toEqual(['alpha', 'zeta']);
    expect(reg.all().map((d) => d.type)).toEqual(['alpha', 'zeta']);
    expect(reg.get('alpha')!.title).toBe('ALPHA');
    expect(reg.get('nope')).toBeUndefined();
    expect(() => reg.register(def('alpha'))).toThrow(/"alpha".*unique/);
  });

  it('gives defaults and a JSON schema with ranges, enums and descriptions', () => {
    const reg = new NodeRegistry([def('n')]);
    expect(reg.defaults('n')).toEqual({ amount: 1, mode: 'a' });
    const schema = reg.paramsJsonSchema('n');
    expect(schema.properties.amount).toMatchObject({ type: 'number', minimum: 0, maximum: 4, default: 1, description: 'How much.' });
    expect(schema.properties.mode.enum).toEqual(['a', 'b']);
    expect(() => reg.defaults('ghost')).toThrow(/Unknown node type "ghost"/);
  });

  it('builds from modules and names a file without a default export', () => {
    expect(registryFromModules({ 'a.ts': { default: def('a') } }).types()).toEqual(['a']);
    expect(() => registryFromModules({ 'broken.ts': {} })).toThrow(/broken\.ts/);
  });
});
