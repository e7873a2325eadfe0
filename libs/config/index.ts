export type { BackstreamConfig } from './schema';
export { loadConfig, requireSettings, describeSettings, envNameOf } from './load';
export type { LoadConfigOptions, LoadedConfig, RequiredSetting } from './load';
export { parseByteSize, formatByteSize } from './byte-size';
