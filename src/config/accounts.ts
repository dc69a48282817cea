/**
 * User and group names to numeric ids, read from /etc/passwd and /etc/group. Resolved once at load
 * so a typo fails `wakegate check` instead of the first cold start, and so the runtime (which may
 * be a container with its own /etc) only ever sees numbers.
 */
import { readFileSync } from 'node:fs';

/** The highest id; (uid_t)-1 means "unchanged" to setuid(2) and chown(2). */
export const MAX_ID = 2 ** 32 - 2;

export interface UserAccount {
  readonly uid: number;
  readonly primaryGid: number;
}

/** The account, or a message saying why there is none. */
export function lookupUser(name: string, passwdFile = '/etc/passwd'): UserAccount | string {
  const fields = findEntry(passwdFile, name, 'user');
  if (typeof fields === 'string') return fields;
  const uid = parseId(fields[2]);
  const primaryGid = parseId(fields[3]);
  if (uid === undefined || primaryGid === undefined) return `the entry for ${JSON.stringify(name)} in ${passwdFile} is malformed`;
  return { uid, primaryGid };
}

/**
 * The primary group of a numeric uid: its /etc/passwd entry's, or else the same number. Never "unchanged",
 * which would leave a process dropped from root in root's group.
 */
export function primaryGidOf(uid: number, passwdFile = '/etc/passwd'): number {
  let text = '';
  try {
    text = readFileSync(passwdFile, 'utf8');
  } catch {
    return uid;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (parseId(fields[2]) === uid) return parseId(fields[3]) ?? uid;
  }
  return uid;
}

export function lookupGroup(name: string, groupFile = '/etc/group'): number | string {
  const fields = findEntry(groupFile, name, 'group');
  if (typeof fields === 'string') return fields;
  return parseId(fields[2]) ?? `the entry for ${JSON.stringify(name)} in ${groupFile} is malformed`;
}

function findEntry(file: string, name: string, what: 'user' | 'group'): string[] | string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name) return fields;
  }
  return `no ${what} named ${JSON.stringify(name)} in ${file}`;
}

function parseId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const id = Number(text);
  return id <= MAX_ID ? id : undefined;
}
