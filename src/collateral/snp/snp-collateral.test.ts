import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fingerprint, parseCertificate } from '../../core/index.ts';
import { decodeTcbVersion } from '../../evidence/snp/index.ts';
import { corpusAvailable, corpusFile } from '../../../test/support/corpus.ts';
import { AMD_ARK_SHA256, kdsCertChainUrl, kdsCrlUrl, kdsVcekUrl, parseKdsCertChain, productFromCpuid, productFromName } from './index.ts';

const skip = !corpusAvailable() && 'corpus not available';

test('pinned ARK fingerprints equal the SHA-256 of the corpus ARKs and of the KDS cert_chain bundles', { skip }, async () => {
  for (const [product, fp] of Object.entries(AMD_ARK_SHA256)) {
    const ark = parseCertificate(corpusFile(`snp/roots/ark_${product.toLowerCase()}.pem`));
    assert.equal(await fingerprint(ark), fp, product);
    assert.equal(ark.subject, ark.issuer);
    assert.match(ark.subject, new RegExp(`CN=ARK-${product}`));
    const bundle = parseKdsCertChain(corpusFile(`snp/go-sev-guest/ask_ark_${product.toLowerCase()}${product === 'Turin' ? '_vcek' : ''}.pem`));
    assert.equal(await fingerprint(bundle.ark), fp);
  }
});

test('product line from CPUID (v3+) and from names', () => {
  assert.equal(productFromCpuid({ family: 0x19, model: 0x01, stepping: 1 }), 'Milan');
  assert.equal(productFromCpuid({ family: 0x19, model: 0x11, stepping: 1 }), 'Genoa');
  assert.equal(productFromCpuid({ family: 0x19, model: 0xa0, stepping: 2 }), 'Genoa');
  assert.equal(productFromCpuid({ family: 0x1a, model: 0x02, stepping: 0 }), 'Turin');
  assert.equal(productFromCpuid({ family: 0x19, model: 0x50, stepping: 0 }), undefined);
  assert.equal(productFromCpuid({ family: 0x17, model: 0x31, stepping: 0 }), undefined);
  assert.equal(productFromName('Milan-B0'), 'Milan');
  assert.equal(productFromName('SEV-VLEK-Genoa'), 'Genoa');
  assert.equal(productFromName('ARK-Turin'), 'Turin');
  assert.equal(productFromName('siena'), 'Genoa');
  assert.equal(productFromName('Naples'), undefined);
});

test('KDS URLs: VCEK by hwID + REPORTED_TCB (Turin: 8-byte hwID, fmcSPL first), cert_chain, CRL', () => {
  const chip = Uint8Array.from({ length: 64 }, (_, i) => i);
  assert.equal(
    kdsVcekUrl(undefined, 'Milan', chip, decodeTcbVersion(0x4405000000000002n, 'legacy')),
    `https://kdsintf.amd.com/vcek/v1/Milan/${Buffer.from(chip).toString('hex')}?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68`,
  );
  assert.equal(
    kdsVcekUrl('http://127.0.0.1:9/', 'Turin', chip, decodeTcbVersion(0x4d00000004030201n, 'turin')),
    'http://127.0.0.1:9/vcek/v1/Turin/0001020304050607?fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=77',
  );
  assert.equal(kdsCertChainUrl(undefined, 'Genoa', 'vlek'), 'https://kdsintf.amd.com/vlek/v1/Genoa/cert_chain');
  assert.equal(kdsCrlUrl('https://proxy.example/kds', 'Milan', 'vcek'), 'https://proxy.example/kds/vcek/v1/Milan/crl');
});
