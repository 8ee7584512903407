/**
 * Errors the user can act on. Each carries a stable code so programs can
 * branch on it; the message says what was expected, what was found and how
 * to fix it.
 */
export class MealError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'MealError';
  }
}

/** Thrown when a loss goes NaN or infinite; the last good checkpoint is left as it was. */
export class NonFiniteLossError extends MealError {
  constructor(
    readonly step: number,
    readonly parts: Record<string, number>,
  ) {
    const shown = Object.entries(parts)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    super(
      'NON_FINITE_LOSS',
      `loss is not finite at step ${step} (${shown}); the run stopped and the last good ` +
        'checkpoint was left intact. Lower the learning rate or check the input data, then ' +
        'resume with --resume.',
    );
  }
}
