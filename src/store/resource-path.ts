import { AttestError, ErrorCode } from '../core/errors.ts';

// Trustee's resource URI is <repository>/<type>/<tag>; each segment is a path component, so the
// store refuses anything a file-system backend or a glob could misread.
const SEGMENT = /^[A-Za-z0-9._+=@:~-]{1,128}$/;

/** Returns the path unchanged or throws ERR_CONFIG_INVALID. */
export function validateResourcePath(path: string): string {
  const parts = path.split('/');
  const ok = parts.length === 3 && parts.every((p) => SEGMENT.test(p) && p !== '.' && p !== '..');
  if (!ok) throw new AttestError(ErrorCode.ConfigInvalid, `invalid resource path ${JSON.stringify(path)}: expected <repository>/<type>/<tag>, each 1-128 of [A-Za-z0-9._+=@:~-], not '.' or '..'`, { path });
  return path;
}
