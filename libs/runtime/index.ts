export { openServiceContext, closeServiceContext, runUntilSignalled } from './service';
export type { ServiceContext, Stoppable } from './service';
