export {
  openServiceContext,
  closeServiceContext,
  openReaderContext,
  openRepositoryStore,
  openTrustedLedger,
} from './service';
export type { ServiceContext, Stoppable, ReaderContext, ReaderOptions, RepositoryStore } from './service';
export { runService, SERVICE_EXIT, type ServiceStarter } from './run-service';
