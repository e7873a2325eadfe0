import { Compressor } from 'zstd-napi';
import { BlockDecoder, BlockEncoder, zstdFrameContentSize } from './block-codec';

describe('zstdFrameContentSize', () => {
  it.each([0, 1, 255, 256, 65791, 65792, 1 << 20, 5_000_000])('reads the size of a %d-byte frame', (n) => {
    const c = new Compressor();
    c.setParameters({ compressionLevel: 3 });
    expect(zstdFrameContentSize(c.compress(Buffer.alloc(n, 7)))).toBe(n);
  });

  it('is undefined for bytes that are not a zstd frame', () => {
    expect(zstdFrameContentSize(Buffer.from('not zstd at all'))).toBeUndefined();
  });

  it('makes the decoder refuse a block declaring more than the largest chunk, before decompressing it', () => {
    const block = new BlockEncoder(3).encode(Buffer.alloc(64 * 1024, 1));
    expect(() => new BlockDecoder(1024).decode('k', block)).toThrow(
      /declares 65536 bytes, more than the largest chunk/,
    );
  });
});
