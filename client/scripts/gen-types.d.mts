/** src/document.ts (the agent's types) */
export const SOURCE: string;
/** client/src/document.ts (generated) */
export const TARGET: string;
/** the text client/src/document.ts must have for the given src/document.ts text (default: the file on disk) */
export function generate(sourceText?: string): string;
