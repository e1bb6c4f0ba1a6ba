export * from './request';
export * from './response';
export * from './failures';
export * from './jobs';
export * from './errors';
export * from './workflow-api';
export * from './routing';
