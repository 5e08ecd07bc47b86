/**
 * Child process for the cross-process nonce race test: opens the store, waits for a shared start
 * time, tries to consume every listed session's nonce and prints the ids it won as JSON.
 * argv: <database> <master key base64> <start epoch ms> <json [[id, nonce], …]>
 */
import { openStore } from '../index.ts';

const [database, keyB64, startAt, pairsJson] = process.argv.slice(2);
if (!database || !keyB64 || !startAt || !pairsJson) {
  process.stderr.write('usage: nonce-racer <database> <key b64> <start ms> <pairs json>\n');
  process.exit(2);
}
const store = await openStore(database, { masterKey: new Uint8Array(Buffer.from(keyB64, 'base64')) });
const pairs = JSON.parse(pairsJson) as [string, string][];
const wait = Number(startAt) - Date.now();
if (wait > 0) await new Promise((r) => setTimeout(r, wait));
const won: string[] = [];
for (const [id, nonce] of pairs) {
  const r = await store.sessions.consumeNonce(id, nonce, new Date());
  if (r.ok) won.push(id);
  else if (r.reason !== 'already-used') throw new Error(`unexpected ${r.reason} for ${id}`);
}
await store.close();
process.stdout.write(JSON.stringify(won));
