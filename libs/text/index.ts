export { terminalSafe } from './terminal-safe';
