// Keyboard navigation helpers.

/** True when keys typed now belong to a form control, not to the page's shortcuts. */
export function isTypingTarget(el: EventTarget | null): boolean {
  if (!el || typeof (el as HTMLElement).tagName !== 'string') return false;
  const e = el as HTMLElement;
  const tag = e.tagName.toLowerCase();
  if (tag === 'textarea' || tag === 'select') return true;
  if (tag === 'input') {
    const type = ((e as HTMLInputElement).type || 'text').toLowerCase();
    return !['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color'].includes(type);
  }
  return e.isContentEditable === true;
}

/** The next selection in a list of `len` after moving by `delta`, clamped; nothing selected yet → first. */
export function moveIndex(current: number, delta: number, len: number): number {
  if (len <= 0) return -1;
  if (current < 0 || current >= len) return delta >= 0 ? 0 : len - 1;
  return Math.min(len - 1, Math.max(0, current + delta));
}

/** A plain key press without modifiers (Shift allowed for symbols like `?`). */
export function plainKey(e: KeyboardEvent): boolean {
  return !e.ctrlKey && !e.metaKey && !e.altKey;
}

/** Handles `j`/`k`/arrow keys and Enter for a list; returns the new index, or null when not handled. */
export function listKey(e: KeyboardEvent, current: number, len: number): { index: number; open: boolean } | null {
  if (!plainKey(e) || isTypingTarget(e.target)) return null;
  switch (e.key) {
    case 'j':
    case 'ArrowDown':
      return { index: moveIndex(current, 1, len), open: false };
    case 'k':
    case 'ArrowUp':
      return { index: moveIndex(current, -1, len), open: false };
    case 'Enter':
      return current >= 0 && current < len ? { index: current, open: true } : null;
    default:
      return null;
  }
}
