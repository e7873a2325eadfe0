export { BlockEncoder, BlockDecoder, CODEC } from './block-codec';
