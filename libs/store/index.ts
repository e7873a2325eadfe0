export { createS3Client } from './s3-client';
