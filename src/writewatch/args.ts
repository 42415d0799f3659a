/**
 * Argument checks for the JS-first API, with Node's error codes. Nothing here touches the kernel.
 *
 * Options objects are read once, every property copied into a local before the call acts: a getter
 * or Proxy trap runs only here, before the call checks that its WriteWatch is live, so user code
 * can neither close it mid-call nor change an answer already checked.
 */
import { types } from 'node:util';
import { InvalidArgTypeError, InvalidArgValueError, OutOfRangeError, WriteWatchError, unreadable } from '../errors.js';

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

/**
 * A request: first as read from its options (the raw values, and any failure reading them, thrown
 * only once the call knows its WriteWatch is live: after close every call says so, whatever its
 * arguments), then as checked: a byte range of the buffer plus the page cap (0 = none).
 */
export interface Request {
  rawOffset: unknown;
  rawLength: unknown;
  rawMaxPages: unknown;
  rawReset: unknown;
  /** What reading the options threw (a refused key, a revoked Proxy, a getter), or null. */
  error: unknown;
  offset: number;
  length: number;
  maxPages: number;
  reset: boolean;
}

export function newRequest(): Request {
  return { rawOffset: undefined, rawLength: undefined, rawMaxPages: undefined, rawReset: undefined, error: null, offset: 0, length: 0, maxPages: 0, reset: false };
}

export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw new InvalidArgTypeError(name, 'of type number', value);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new OutOfRangeError(name, `an integer >= ${min} and <= ${max}`, value);
  }
  return value;
}

/**
 * A failure reading a user object: one without a `.code` (a revoked Proxy, a getter throwing a
 * plain TypeError) becomes ERR_INVALID_ARG_VALUE naming the argument, with the failure as its cause.
 */
export function readFailure(name: string, value: unknown, e: unknown): unknown {
  // The library's own refusals (a misspelt key) pass as they are; anything user code threw is
  // wrapped, read without running more user code (a revoked Proxy, a throwing `code` getter).
  if (!types.isProxy(e) && (e instanceof InvalidArgValueError || e instanceof InvalidArgTypeError || e instanceof OutOfRangeError || e instanceof WriteWatchError)) {
    return e;
  }
  return unreadable(name, value, e);
}

/** reset()'s arguments, as given. */
export function readRange(offset: unknown, length: unknown, into: Request): Request {
  into.rawOffset = offset;
  into.rawLength = length;
  into.rawMaxPages = undefined;
  into.rawReset = true;
  into.error = null;
  return into;
}

/**
 * Reads `opts` into `into`: each property once, before anything else of the call (getters and
 * Proxy traps run here and only here). Throws nothing: checkRequest() does, after the liveness
 * check. No allocation (getInto's path).
 */
export function readOptions(opts: unknown, into: Request): Request {
  into.rawOffset = into.rawLength = into.rawMaxPages = into.rawReset = undefined;
  into.error = null;
  if (opts === undefined) return into;
  if (opts === null || typeof opts !== 'object') {
    into.error = new InvalidArgTypeError('options', 'of type object', opts);
    return into;
  }
  try {
    checkKeys(opts);
    const o = opts as GetOptions;
    into.rawOffset = o.offset;
    into.rawLength = o.length;
    into.rawMaxPages = o.maxPages;
    into.rawReset = o.reset;
  } catch (e) {
    into.error = readFailure('options', opts, e);
  }
  return into;
}

/** Checks what readOptions()/readRange() read, against the buffer's live length: a range past `byteLength` is an error. */
export function checkRequest(r: Request, byteLength: number): Request {
  if (r.error !== null) throw r.error;
  const offset = r.rawOffset === undefined ? 0 : checkInteger('offset', r.rawOffset, 0, byteLength);
  const length = r.rawLength === undefined ? byteLength - offset : checkInteger('length', r.rawLength, 0, byteLength - offset);
  // 0 is an error as *lpdwCount == 0 is in Windows (ERROR_INVALID_PARAMETER).
  const maxPages = r.rawMaxPages === undefined ? 0 : checkInteger('options.maxPages', r.rawMaxPages, 1, Number.MAX_SAFE_INTEGER);
  if (r.rawReset !== undefined && typeof r.rawReset !== 'boolean') throw new InvalidArgTypeError('options.reset', 'of type boolean', r.rawReset);
  r.offset = offset;
  r.length = length;
  r.maxPages = maxPages;
  r.reset = r.rawReset === true;
  return r;
}

/** readOptions() and checkRequest() at once, for a buffer of `byteLength` bytes (pure logic: tests). */
export function checkOptions(opts: unknown, byteLength: number): { offset: number; length: number; maxPages: number; reset: boolean } {
  const r = checkRequest(readOptions(opts, newRequest()), byteLength);
  return { offset: r.offset, length: r.length, maxPages: r.maxPages, reset: r.reset };
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

/** allocate()'s and track()'s options, as read once. */
export interface OpenOptions {
  mechanism: 'write-protect' | 'compare' | 'auto';
  maxByteLength: number | undefined;
}

const MECHANISMS = ['write-protect', 'compare', 'auto'] as const;

/**
 * Reads allocate()'s (`track` false) or track()'s options: `mechanism`, and for track
 * `maxByteLength`. Unknown keys are refused as get()'s are (`mechanisn: 'compare'` would otherwise
 * silently give write-protect).
 */
export function readOpenOptions(options: unknown, track: boolean): OpenOptions {
  if (options === undefined) return { mechanism: 'write-protect', maxByteLength: undefined };
  if (options === null || typeof options !== 'object') throw new InvalidArgTypeError('options', 'of type object', options);
  let mechanism: unknown, maxByteLength: unknown;
  try {
    const allowed = track ? 'mechanism and maxByteLength are' : 'mechanism is';
    for (const k in options) {
      if (k !== 'mechanism' && !(track && k === 'maxByteLength')) {
        throw new InvalidArgValueError(`options.${k}`, (options as Record<string, unknown>)[k], `is not an option: ${allowed}`);
      }
    }
    mechanism = (options as { mechanism?: unknown }).mechanism;
    maxByteLength = track ? (options as { maxByteLength?: unknown }).maxByteLength : undefined;
  } catch (e) {
    throw readFailure('options', options, e);
  }
  if (mechanism !== undefined && !(MECHANISMS as readonly unknown[]).includes(mechanism)) {
    throw new InvalidArgValueError('options.mechanism', mechanism, `must be one of: ${MECHANISMS.map((x) => `'${x}'`).join(', ')}`);
  }
  return {
    mechanism: (mechanism ?? 'write-protect') as OpenOptions['mechanism'],
    maxByteLength: maxByteLength === undefined ? undefined : checkInteger('options.maxByteLength', maxByteLength, 0, Number.MAX_SAFE_INTEGER),
  };
}
