export * from './plan';
export * from './partials';
export * from './runner';
