export { BlockEncoder, BlockDecoder, CODEC, zstdFrameContentSize } from './block-codec';
