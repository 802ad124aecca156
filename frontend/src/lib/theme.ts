// Light, dark, or whatever the system says: the choice is kept in localStorage and applied as
// `data-theme` on <html> before the first paint (main.ts), so a reload never flashes the other theme.

export const THEMES = ['system', 'light', 'dark'] as const;
export type Theme = (typeof THEMES)[number];
export const THEME_KEY = 'claude-mem-theme';

export function parseTheme(v: string | null | undefined): Theme {
  return (THEMES as readonly string[]).includes(v ?? '') ? (v as Theme) : 'system';
}

/** system → light → dark → system: one button cycles through the three. */
export function nextTheme(t: Theme): Theme {
  return THEMES[(THEMES.indexOf(t) + 1) % THEMES.length];
}

export function themeLabel(t: Theme): string {
  return t === 'system' ? 'Theme: as the system' : t === 'light' ? 'Theme: light' : 'Theme: dark';
}

export function loadTheme(storage: Pick<Storage, 'getItem'> | null = globalThis.localStorage ?? null): Theme {
  try {
    return parseTheme(storage?.getItem(THEME_KEY));
  } catch {
    return 'system';
  }
}

export function applyTheme(t: Theme, root: HTMLElement = document.documentElement): void {
  if (t === 'system') delete root.dataset.theme;
  else root.dataset.theme = t;
}

export function saveTheme(t: Theme, storage: Pick<Storage, 'setItem' | 'removeItem'> | null = globalThis.localStorage ?? null): void {
  try {
    if (t === 'system') storage?.removeItem(THEME_KEY);
    else storage?.setItem(THEME_KEY, t);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
}
