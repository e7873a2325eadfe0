import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { BackstreamConfig } from '../config';
import { instrumentS3Client } from '../telemetry';

/**
 * Builds the S3 client of a process from the s3 settings.
 *
 * Checksums: since 2025 the AWS SDK adds CRC32 checksums to every upload and validates
 * them on download ("when_supported"). Several S3-compatible servers reject or mangle
 * those trailers, so the default here is "when_required"; backstream verifies every
 * block by its own SHA-256 anyway.
 */
export function createS3Client(config: BackstreamConfig['s3']): S3Client {
  const checksums = config.checksums === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  const clientConfig: S3ClientConfig = {
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    maxAttempts: config.maxAttempts,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
  };
  if (config.endpoint !== '') clientConfig.endpoint = config.endpoint;
  if (config.accessKeyId !== '') {
    clientConfig.credentials = {
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
      ...(config.sessionToken !== '' ? { sessionToken: config.sessionToken } : {}),
    };
  }
  return instrumentS3Client(new S3Client(clientConfig));
}
