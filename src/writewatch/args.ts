/** Argument checks for the JS-first API, with Node's error codes. Nothing here touches the kernel. */
import { InvalidArgTypeError, InvalidArgValueError, OutOfRangeError } from '../errors.js';

export interface GetOptions {
  /** Byte offset of the first byte to look at (default 0). */
  offset?: number;
  /** Bytes to look at (default: to the end). 0 selects no page. */
  length?: number;
  /** Return at most this many pages (`*lpdwCount`); a positive integer. Default: no limit. */
  maxPages?: number;
  /** Also reset the returned pages, atomically with reading them (WRITE_WATCH_FLAG_RESET). */
  reset?: boolean;
}

/** A checked request: a byte range of the buffer plus the page cap (0 = none). */
export interface Request {
  offset: number;
  length: number;
  maxPages: number;
  reset: boolean;
}

export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw new InvalidArgTypeError(name, 'of type number', value);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new OutOfRangeError(name, `an integer >= ${min} and <= ${max}`, value);
  }
  return value;
}

/** A byte range inside [0, byteLength): offset and length default to the whole buffer. */
export function checkRange(offset: unknown, length: unknown, byteLength: number): { offset: number; length: number } {
  const o = offset === undefined ? 0 : checkInteger('offset', offset, 0, byteLength);
  const l = length === undefined ? byteLength - o : checkInteger('length', length, 0, byteLength - o);
  return { offset: o, length: l };
}

/** Checks `opts`; the result is written into `into` when given (the no-allocation getInto path). */
export function checkOptions(opts: unknown, byteLength: number, into?: Request): Request {
  if (opts === undefined) return fill(into, 0, byteLength, 0, false);
  if (opts === null || typeof opts !== 'object') throw new InvalidArgTypeError('options', 'of type object', opts);
  const o = opts as GetOptions;
  checkKeys(o);
  // checkRange() inlined: its { offset, length } would be one more allocation per getInto.
  const offset = o.offset === undefined ? 0 : checkInteger('offset', o.offset, 0, byteLength);
  const length = o.length === undefined ? byteLength - offset : checkInteger('length', o.length, 0, byteLength - offset);
  // 0 is an error as *lpdwCount == 0 is in Windows (ERROR_INVALID_PARAMETER).
  const maxPages = o.maxPages === undefined ? 0 : checkInteger('options.maxPages', o.maxPages, 1, Number.MAX_SAFE_INTEGER);
  if (o.reset !== undefined && typeof o.reset !== 'boolean') {
    throw new InvalidArgTypeError('options.reset', 'of type boolean', o.reset);
  }
  return fill(into, offset, length, maxPages, o.reset ?? false);
}

/**
 * A misspelt key (`lenght`) would otherwise be ignored and the answer could read as "clean".
 * for..in with string compares: no array of keys per call, so getInto stays allocation-free.
 */
function checkKeys(o: object): void {
  for (const k in o) {
    if (k !== 'offset' && k !== 'length' && k !== 'maxPages' && k !== 'reset') {
      throw new InvalidArgValueError(`options.${k}`, (o as Record<string, unknown>)[k], 'is not an option: offset, length, maxPages and reset are');
    }
  }
}

function fill(into: Request | undefined, offset: number, length: number, maxPages: number, reset: boolean): Request {
  if (!into) return { offset, length, maxPages, reset };
  into.offset = offset;
  into.length = length;
  into.maxPages = maxPages;
  into.reset = reset;
  return into;
}
