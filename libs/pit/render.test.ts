import { inlinePayload } from '../changes';
import { dataMembers, fileLine, keyAsJson } from './render';

describe('render helpers', () => {
  it('writes structured keys as objects and every other key as a string', () => {
    expect(keyAsJson('{"id":1001}')).toBe('{"id":1001}');
    expect(keyAsJson('42')).toBe('"42"');
    expect(keyAsJson('{not json')).toBe('"{not json"');
    expect(keyAsJson('[1]')).toBe('"[1]"');
    expect(fileLine({ source: 's', key: '42', value: '{"op":"r"}' }, 'debezium')).toBe(
      '{"key":"42","value":{"op":"r"}}',
    );
    expect(fileLine({ source: 's', key: '42', value: '{"op":"upsert"}' }, 'jsonl')).toBe('{"op":"upsert"}');
  });

  it('writes a payload as native data members', () => {
    const json = inlinePayload(Buffer.from('{"n":12345678901234567890,"a":1}'), 'json', 'application/json');
    expect(dataMembers(json)).toBe(',"data":{"a":1,"n":12345678901234567890}');
    const bytes = inlinePayload(Buffer.from([0, 1, 2]), 'base64', 'image/png');
    expect(dataMembers(bytes)).toBe(',"dataEncoding":"base64","data":"AAEC"');
    const broken = inlinePayload(Buffer.from('{oops'), 'json', 'application/json');
    expect(dataMembers(broken)).toBe(`,"dataEncoding":"base64","data":"${Buffer.from('{oops').toString('base64')}"`);
  });
});
