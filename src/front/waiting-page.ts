import type { WaitingPageSpec } from '../config/types.js';
import type { WakegateError } from '../errors.js';

/** Text for HTML, in element content and in quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** How long the start has lasted, as the page shows it: whole seconds, which is what a reload every second can show. */
export function elapsedText(ms: number): string {
  return `${Math.max(0, Math.floor(ms / 1000))} s`;
}

function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{\s*(app|elapsed)\s*\}\}/g, (_, key: string) => escapeHtml(values[key]!));
}

const STYLE = 'body{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;color:#222;background:#fafafa}main{max-width:32em;padding:2em;text-align:center}';

// The Refresh header reloads the page; the meta tag says the same for a page saved or shown without its headers.
const BUILT_IN = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="{{refresh}}"><title>Starting {{app}}</title><style>${STYLE}</style></head>
<body><main><h1>Starting {{app}}</h1><p>The application is waking up ({{elapsed}} so far). This page reloads by itself and shows it as soon as it answers.</p></main></body></html>
`;

const FAILED = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{app}} failed to start</title><style>${STYLE}</style></head>
<body><main><h1>{{app}} failed to start</h1><p>{{reason}}</p><p>It can be tried again in {{retry}}: reload this page then.</p></main></body></html>
`;

/** The page a navigation gets while the app starts: the app's template if it has one, else the built-in one. */
export function waitingHtml(spec: WaitingPageSpec, app: string, elapsedMs: number, refreshSec: number): string {
  if (spec.template !== undefined) return fill(spec.template, { app, elapsed: elapsedText(elapsedMs) });
  return fill(BUILT_IN.replace('{{refresh}}', String(refreshSec)), { app, elapsed: elapsedText(elapsedMs) });
}

/**
 * The page a navigation gets when the start failed: no reload, since a reload would only start a
 * crash-looping app again; the operator's template is for waiting and is not used.
 */
export function failedHtml(app: string, failure: WakegateError, retryAfterSec: number): string {
  return FAILED.replace(/\{\{(app|reason|retry)\}\}/g, (_, key: string) =>
    escapeHtml(key === 'app' ? app : key === 'reason' ? failure.message : `${retryAfterSec} s`),
  );
}
