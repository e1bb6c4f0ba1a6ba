/** Every workflow the worker registers. */
export { aiRequestWorkflow, progressQuery } from './request';
