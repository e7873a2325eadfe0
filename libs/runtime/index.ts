export { openServiceContext, closeServiceContext, runUntilSignalled, openReaderContext } from './service';
export type { ServiceContext, Stoppable, ReaderContext } from './service';
