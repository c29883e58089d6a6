/** dnnfuse's version (package.json's, from src/ and from dist/ alike: both sit two folders below
 * the package root). Its own module, free of imports, so that `dnnfuse --version` and the sweep's
 * point keys do not load the pass manager. */
import { createRequire } from 'node:module';

export const TOOL_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
