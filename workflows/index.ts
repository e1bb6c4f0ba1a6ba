/** Every workflow the worker registers. */
export { aiRequestWorkflow, progressQuery } from './request';
export { breakerWorkflow, outcomesSignal, overrideSignal, breakerStateQuery } from './breaker';
export { aiJobWorkflow, callbackDeliveryWorkflow } from './job';
export { batchWorkflow, batchProgressQuery } from './batch';
export { noopWorkflow } from './noop';
export { ragIngestWorkflow } from './ingest';
export { liveConfigWorkflow } from './live-config';
