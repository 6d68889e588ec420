// Build metadata, baked in by the bundler (scripts/build.mjs defines these globals from PODMETA_VERSION /
// PODMETA_REVISION or package.json + git). Running from source (tsx) shows "dev".

declare const __PODMETA_VERSION__: string | undefined;
declare const __PODMETA_REVISION__: string | undefined;

export const BUILD = Object.freeze({
  version: typeof __PODMETA_VERSION__ === 'string' ? __PODMETA_VERSION__ : 'dev',
  revision: typeof __PODMETA_REVISION__ === 'string' ? __PODMETA_REVISION__ : 'unknown',
});
