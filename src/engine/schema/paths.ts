import { z } from 'zod';

/**
 * Params that become part of an output path. Every such param is declared with one of these
 * builders so that `validate` (through the node's params schema) refuses a value that would leave
 * the output folder, before anything runs. The host enforces the same rule again at write time on
 * the resolved path, symlinks included (NodeHost.confine): the schema check is the early, static
 * report; the host check is the guarantee.
 *
 * - `folder`: a relative sub-folder of the output root ("a/b"); no "..", no absolute path.
 * - `file`: one file name ("run.safetensors"); no separator, not "." or "..".
 * - `name-part`: text pasted into a file name (a suffix); no separator at all.
 */
export type PathPart = 'folder' | 'file' | 'name-part';

const MAX_COMPONENT = 200;

/** Why `value` cannot be used as that part of an output path, or undefined when it can. */
export function outputPathProblem(value: string, part: PathPart): string | undefined {
  if (value.includes('\0')) return 'contains a NUL character';
  if (value.includes('\\')) return 'contains "\\" (use "/" between folders)';
  if (part === 'folder') {
    if (value.startsWith('/') || /^[A-Za-z]:/.test(value)) return 'is an absolute path; give a folder relative to the output root';
    const segments = value.split('/');
    if (segments.includes('..')) return 'contains ".." and would leave the output root';
    if (segments.some((s) => s.length > MAX_COMPONENT)) return `has a folder name longer than ${MAX_COMPONENT} characters`;
    return undefined;
  }
  if (value.includes('/')) return part === 'file' ? 'contains "/"; give a plain file name' : 'contains "/"; it is pasted into a file name';
  if (part === 'file' && (value === '.' || value === '..')) return `"${value}" is not a file name`;
  if (value.length > MAX_COMPONENT) return `is longer than ${MAX_COMPONENT} characters`;
  return undefined;
}

/** A string param that becomes part of an output path (see PathPart); refine further as usual. */
export function outputPath(part: PathPart): z.ZodString {
  return z.string().superRefine((value, ctx) => {
    const problem = outputPathProblem(value, part);
    if (problem) ctx.addIssue({ code: 'custom', message: `${problem}; output paths must stay inside the output folder` });
  });
}
