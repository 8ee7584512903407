/**
 * The library logs through an injected logger and is quiet by default; the
 * CLI passes one that writes to the terminal and to the run's log file.
 */
export interface Logger {
  info(line: string): void;
  warn(line: string): void;
}

export const silentLogger: Logger = { info: () => {}, warn: () => {} };

/** A logger that writes each line to every sink given (streams, files, arrays in tests). */
export function teeLogger(...sinks: ((line: string) => void)[]): Logger {
  return {
    info: (line) => sinks.forEach((s) => s(line)),
    warn: (line) => sinks.forEach((s) => s(`warning: ${line}`)),
  };
}
