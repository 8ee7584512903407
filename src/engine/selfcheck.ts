/** Placeholder until the real self-check lands (see the engine work in progress). */
export function selfCheck(_backendName: string): void {}
