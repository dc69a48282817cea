/** JSON-shaped values: what seed configs are made of and what mutations work on. */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** Sets a key without ever invoking the `__proto__` setter. */
export function put(o: JsonObject, key: string, value: Json): void {
  Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
}

export function clone(v: Json): Json {
  // JSON.parse creates `__proto__` as an own data property, so odd keys survive the round trip.
  return JSON.parse(JSON.stringify(v)) as Json;
}
