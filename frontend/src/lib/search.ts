// Search results as feed items, so observations, summaries and prompts found by search render with the
// same cards the live feed uses.

import { observationItem, promptItem, summaryItem, type FeedItem } from './stream';
import type { SearchResult } from './types';

/** The feed item a search hit shows as. */
export function resultItem(r: SearchResult): FeedItem {
  if (r.kind === 'summary') return summaryItem(r.summary);
  if (r.kind === 'prompt') return promptItem(r.prompt);
  return observationItem(r.observation);
}

/**
 * The `type` filter to send: it narrows observations only, so the worker refuses it with kind=summary or
 * kind=prompt; the viewer keeps the choice but leaves it out there.
 */
export function typeFor(kind: string, type: string): string {
  return kind === 'summary' || kind === 'prompt' ? '' : type;
}
