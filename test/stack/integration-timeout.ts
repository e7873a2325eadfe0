// Integration tests talk to a real broker and S3 server; a consumer-group rebalance
// alone can take seconds on a loaded 2-core machine.
jest.setTimeout(120_000);
