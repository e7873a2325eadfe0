import { LedgerChain } from './chain';
import { TrustedLedger, type LedgerTrust } from './follower';
import { LedgerSigningKey } from './signing';
import type { LedgerItem, LedgerSource } from './source';
import { T0, idOf, iso, sha256, snapshotCommit, testSigner } from './test-fixtures';

/** Records 0, 1, 2 and a checkpoint as the topic would hand them over. */
function items(): LedgerItem[] {
  const chain = new LedgerChain();
  const out: LedgerItem[] = [];
  for (let i = 0; i < 3; i++) {
    const s = chain.append(snapshotCommit(idOf(`follower-${i}`), i, sha256(`m${i}`)), testSigner)!;
    out.push({ kind: 'record', at: `offset ${i}`, offset: String(i), ...s });
  }
  const c = chain.checkpoint(iso(T0), testSigner);
  out.push({ kind: 'checkpoint', at: 'offset 3', offset: '3', ...c });
  return out;
}

function sourceOf(list: LedgerItem[]): LedgerSource {
  return {
    description: 'test',
    read: async (onItem) => {
      for (const item of list) await onItem(item);
    },
  };
}

async function passed(trust: LedgerTrust, list: LedgerItem[]): Promise<{ at: string[]; rejected: string[] }> {
  const rejected: string[] = [];
  const ledger = new TrustedLedger({
    kafka: undefined as never,
    topic: 'unused',
    trust,
    onRejected: (at, reason) => rejected.push(`${at}: ${reason}`),
  });
  const at: string[] = [];
  await ledger.filter(sourceOf(list)).read((item) => {
    at.push(item.at);
  });
  return { at, rejected };
}

describe('TrustedLedger (the one trust rule)', () => {
  const key: LedgerTrust = { key: testSigner.verifying };

  it('hands on every record and checkpoint the key signed', async () => {
    expect((await passed(key, items())).at).toEqual(['offset 0', 'offset 1', 'offset 2', 'offset 3']);
  });

  it('drops and reports unsigned items, items signed by another key, and items that do not decode', async () => {
    const list = items();
    const other = LedgerSigningKey.generate();
    const [r0, r1, r2, c3] = list as [LedgerItem, LedgerItem, LedgerItem, LedgerItem];
    if (r0.kind !== 'record' || r1.kind !== 'record' || c3.kind !== 'checkpoint') throw new Error('fixture');
    const forged: LedgerItem[] = [
      { ...r0, signature: undefined },
      { ...r1, signature: other.sign(r1.value) },
      { kind: 'invalid', at: 'offset 9', reason: 'missing header bs-type' },
      r2,
      { ...c3, value: Buffer.from(c3.value.toString().replace('"treeSize":3', '"treeSize":4')) },
    ];
    const { at, rejected } = await passed(key, forged);
    expect(at).toEqual(['offset 2']);
    expect(rejected).toEqual([
      'offset 0: unsigned',
      `offset 1: not signed by ledger key ${testSigner.verifying.keyId}`,
      'offset 9: missing header bs-type',
      `offset 3: not signed by ledger key ${testSigner.verifying.keyId}`,
    ]);
  });

  it('unverified (ledger.allowUnsigned): hands on unsigned items, still drops what does not decode', async () => {
    const list = items().map((i) => (i.kind === 'invalid' ? i : { ...i, signature: undefined }));
    list.push({ kind: 'invalid', at: 'offset 4', reason: 'not JSON' });
    const { at, rejected } = await passed({ unverified: true }, list);
    expect(at).toEqual(['offset 0', 'offset 1', 'offset 2', 'offset 3']);
    expect(rejected).toEqual(['offset 4: not JSON']);
  });
});
