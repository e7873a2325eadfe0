// snappyjs 0.7.0 ships no types; these are the two functions libs/bus/compression.ts calls.
declare module 'snappyjs' {
  const SnappyJS: {
    /** Raw Snappy block → bytes; throws before allocating when the block declares more than maxLength. */
    uncompress(compressed: Uint8Array, maxLength?: number): Uint8Array;
    compress(uncompressed: Uint8Array): Uint8Array;
  };
  export default SnappyJS;
}
