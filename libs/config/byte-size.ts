const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/**
 * Parses a byte count written as an integer with an optional binary unit: "1048576",
 * "512KiB", "8 MiB", "1GiB". Decimal units (KB, MB) are refused rather than guessed,
 * since tools disagree on whether they mean 1000 or 1024. Returns undefined when the
 * text is not such a count.
 */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!match) return undefined;
  const factor = UNITS[(match[2] ?? '').toLowerCase()];
  if (factor === undefined) return undefined;
  const bytes = Number(match[1]) * factor;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Formats a byte count with the largest binary unit that divides it, e.g. 8388608 → "8MiB". */
export function formatByteSize(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const factor = UNITS[unit.toLowerCase()] as number;
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}
