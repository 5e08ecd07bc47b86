/**
 * Resource path globs: `*` matches within one segment, `**` any number of segments (including
 * none), `?` one character; everything else is literal. Paths are "repository/type/tag".
 */
const cache = new Map<string, RegExp>();

export function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (re) return re;
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          src += '(?:[^/]*/)*';
        } else src += '.*';
      } else src += '[^/]*';
    } else if (c === '?') src += '[^/]';
    else src += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  re = new RegExp(`^${src}$`);
  if (cache.size > 1000) cache.clear();
  cache.set(glob, re);
  return re;
}

export function globMatches(glob: string, path: string): boolean {
  return globToRegExp(glob).test(path);
}

/** Valid glob: 1..256 chars of the resource alphabet plus '/', '*', '?'. */
export function isValidGlob(glob: string): boolean {
  return /^[A-Za-z0-9._+=@:~*?/-]{1,256}$/.test(glob) && !glob.split('/').some((s) => s === '..' || s === '.');
}
