/**
 * Learning-rate schedules, evaluated per epoch. Each parameter group has its
 * own base rate and its own schedule, so the student's schedule never
 * overwrites the discriminator's (cases.md #8).
 */
export type Schedule =
  | { kind: 'constant' }
  | { kind: 'step'; milestones: number[]; gamma: number }
  | { kind: 'cosine'; epochs: number; minLr?: number };

export function lrAt(schedule: Schedule, baseLr: number, epoch: number): number {
  switch (schedule.kind) {
    case 'constant':
      return baseLr;
    case 'step': {
      // lr = base * gamma^(milestones passed): milestone 100 means epochs 0-99 at base.
      const passed = schedule.milestones.filter((m) => epoch >= m).length;
      return baseLr * Math.pow(schedule.gamma, passed);
    }
    case 'cosine': {
      const min = schedule.minLr ?? 0;
      const t = Math.min(1, epoch / Math.max(1, schedule.epochs));
      return min + 0.5 * (baseLr - min) * (1 + Math.cos(Math.PI * t));
    }
  }
}
