export { StatsEncoder, STATS_FEATURE_NAMES, type StatsEncoderOptions } from './stats';
