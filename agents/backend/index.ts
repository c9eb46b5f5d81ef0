export * from './reference';
export * from './test-model';
