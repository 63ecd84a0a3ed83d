// Judge metrics: classification (accuracy, per-class precision/recall, macro-F1), correlation with
// human ratings, position and self-consistency, per-task reports and table formatting.
export { accuracy, confusionMatrix, classificationReport, macroF1 } from './classification.js';
export type { Prediction, LabelOptions, ConfusionMatrix, ClassMetrics, ClassificationReport } from './classification.js';
export { pearson, spearman, kendallTauB, rankAverage } from './correlation.js';
export { positionConsistency, majorityVote, selfConsistency } from './consistency.js';
export type { PositionConsistency, MajorityOptions, SelfConsistency } from './consistency.js';
export { taskReport } from './report.js';
export type { TaskPredictions, TaskReportRow } from './report.js';
export { formatTable } from './table.js';
export type { TableColumn, FormatTableOptions } from './table.js';
