import { describeGetBound } from '../../test/support/object-store-contract';
import { MemoryObjectStore } from './memory-object-store';

describeGetBound('MemoryObjectStore', () => new MemoryObjectStore());
