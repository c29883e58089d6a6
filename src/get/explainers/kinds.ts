/**
 * The GET explainer names, in a module of their own that loads nothing: the plan and get passes,
 * the report and the CLI read the list, and importing it from common.ts would load tfjs (about
 * 27 MiB resident) into every `dnnfuse compile`, also those whose pipeline never explains a group
 * (bench:memory, issue 15 item 5). common.ts re-exports both.
 */

/** The explainers, listed once (CLI choices, pass options and the bench read this list). */
export const EXPLAINER_KINDS = ['gnne', 'pg', 'rg', 'cuts'] as const;
/** The GET explainers: 'gnne' (GNNExplainer), 'pg' (PGExplainer), 'rg' (RG-Explainer), 'cuts'
 * (training-free single cut).
 */
export type ExplainerKind = (typeof EXPLAINER_KINDS)[number];
