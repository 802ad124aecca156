// The first-run checklist's marks.

import type { SetupCheck } from './types';

export function checkIcon(state: SetupCheck['state']): string {
  return state === 'ok' ? '✓' : state === 'pending' ? '…' : state === 'warn' ? '!' : '✗';
}
