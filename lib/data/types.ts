// The shapes of judging data shared by the data pipeline, the tasks and the trainers.

/** How a judgment is expressed: yes/no about one image, which of two images, a graded score, or one of N options. */
export type JudgeFormat = 'binary' | 'pairwise' | 'score' | 'choice';

export type Split = 'train' | 'validation' | 'test';

/** An 8-bit RGB image, row-major, interleaved channels (HWC): data.length === width * height * 3. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * One judging example.
 * - binary: `label` is 1 (yes / positive) or 0 (no).
 * - pairwise: `images` has two entries and `label` is the index of the better image (0 = first, "A").
 * - score: `label` is the graded score (e.g. 1..5).
 * - choice: `label` is the index of the correct option.
 */
export interface JudgeExample {
  id: string;
  task: string;
  format: JudgeFormat;
  images: RgbImage[];
  /** Where the images came from, relative to the dataset file (when loaded from disk). */
  imagePaths?: string[];
  /** The text-to-image prompt or the text being judged, when the task has one. */
  prompt?: string;
  label: number;
  /** Mean rating of the (simulated) human raters, on their 1..5 scale. */
  score?: number;
  /** Individual rater ratings. */
  raters?: number[];
  split?: Split;
  /** Hidden generator variables (scene, defects) for oracles and analysis; never shown to a judge. */
  meta?: Record<string, unknown>;
}
