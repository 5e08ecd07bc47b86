/**
 * A fake configfs-tsm on a real temporary directory: mkdir populates `provider` and `generation`,
 * every write bumps `generation`, and writing `inblob` runs the provider callback that fills
 * `outblob`/`auxblob` — the behaviour the kernel gives, minus the firmware.
 */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { nodeTsmFs, removeTree, type TsmFs } from '../tsm.ts';

export interface FakeProvider {
  name: string;
  /** Produces outblob (and optionally auxblob) for an inblob and privlevel. */
  report(inblob: Uint8Array, privlevel: number): Promise<{ outblob: Uint8Array; auxblob?: Uint8Array }>;
}

export interface FakeConfigfs {
  base: string;
  fs: TsmFs;
  /** Entries currently present (should be empty after each call: entries are removed). */
  entries(): Promise<string[]>;
  /** Simulate another process writing to an entry while we read it. */
  raceOnOutblobRead: boolean;
  cleanup(): Promise<void>;
}

export async function fakeConfigfs(provider: FakeProvider): Promise<FakeConfigfs> {
  const root = await mkdtemp(join(tmpdir(), 'fake-tsm-'));
  const base = join(root, 'tsm', 'report');
  await mkdir(base, { recursive: true });
  const privlevels = new Map<string, number>();
  const bump = async (dir: string): Promise<void> => {
    const g = Number((await readFile(join(dir, 'generation'), 'utf8')).trim());
    await writeFile(join(dir, 'generation'), `${g + 1}\n`);
  };
  const fake: FakeConfigfs = {
    base,
    raceOnOutblobRead: false,
    fs: {
      ...nodeTsmFs,
      mkdir: async (p) => {
        await mkdir(p);
        await writeFile(join(p, 'provider'), `${provider.name}\n`);
        await writeFile(join(p, 'generation'), '0\n');
      },
      rmdir: (p) => removeTree(p),
      writeFile: async (p, data) => {
        const dir = dirname(p);
        const attr = basename(p);
        if (attr === 'privlevel') privlevels.set(dir, Number(String(data)));
        else if (attr === 'inblob') {
          const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
          if (bytes.length > 64) throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
          const out = await provider.report(bytes, privlevels.get(dir) ?? 0);
          await writeFile(join(dir, 'outblob'), out.outblob);
          await writeFile(join(dir, 'auxblob'), out.auxblob ?? new Uint8Array(0));
        } else throw Object.assign(new Error(`EACCES ${attr}`), { code: 'EACCES' });
        await writeFile(p, data);
        await bump(dir);
      },
      readFile: async (p) => {
        const b = new Uint8Array(await readFile(p));
        if (fake.raceOnOutblobRead && basename(p) === 'outblob') await bump(dirname(p));
        return b;
      },
    },
    entries: async () => (await import('node:fs/promises')).readdir(base),
    cleanup: () => removeTree(root),
  };
  return fake;
}
