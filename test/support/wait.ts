/** The one polling helper of the tests: poll every `everyMs` until fn returns a truthy value (for state that
 * arrives asynchronously) and return it; fails after `ms`, naming `what` and the last error fn threw. */
export async function eventually<T>(fn: () => T | Promise<T>, ms = 5000, what = 'condition', everyMs = 20): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
