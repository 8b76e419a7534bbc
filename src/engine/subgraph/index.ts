export * from './subgraph';
export * from './group';
