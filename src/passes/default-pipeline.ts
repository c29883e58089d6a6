/**
 * The pipeline `dnnfuse compile` runs when no --pipeline is given (filtered by the registry to
 * the passes this build has). A module of its own, without imports, so that the CLI can print
 * it in --help without loading the passes.
 */
export const DEFAULT_PIPELINE: readonly string[] = ['fold-constants', 'fold-bn', 'collapse-branches', 'plan', 'get', 'learnability'];
