// Writes docs/contact-sheet.png: a grid of generated examples per task with their labels (a green
// bar for label 1 / the better image, red for 0), the hidden cause underneath (defect and severity,
// generator error, sign), and the prompt where the task has one. Also writes
// docs/contact-sheet-corpus.png with base-model corpus items. Run: npx tsx scripts/contact-sheet.ts
// [--seed N] [--size 32] [--out docs]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import sharp from 'sharp';
import { blit, drawText, fillRect, GLYPH_ADVANCE } from '../lib/data/font.js';
import { upscaleNearest } from '../lib/data/render.js';
import { generateCorpusItem } from '../lib/data/corpus.js';
import { generateExamples, resolveSuiteOptions, SUITE_TASKS, TASK_INFO, type ExampleMeta, type ImageMeta, type SuiteTask } from '../lib/data/suite.js';
import type { JudgeExample, RgbImage } from '../lib/data/types.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const seed = Number(arg('seed', '7'));
const imageSize = Number(arg('size', '32'));
const outDir = path.resolve(root, arg('out', 'docs'));
const opts = resolveSuiteOptions({ seed, imageSize });

const ZOOM = Math.max(1, Math.round(128 / imageSize));
const CELL = imageSize * ZOOM;
const GAP = 8;
const HEADER_W = 196;
const COLS = 8;
const LINE = 10;
const WHITE: [number, number, number] = [255, 255, 255];
const INK: [number, number, number] = [30, 30, 30];
const GREY: [number, number, number] = [110, 110, 110];
const GOOD: [number, number, number] = [40, 150, 70];
const BAD: [number, number, number] = [200, 50, 50];

/** Splits text into lines of at most `width` characters at spaces. */
function wrap(text: string, width: number, maxLines: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(/\s+/)) {
    if (cur.length === 0) cur = word;
    else if (cur.length + 1 + word.length <= width) cur += ` ${word}`;
    else {
      lines.push(cur);
      cur = word;
    }
  }
  if (cur) lines.push(cur);
  if (lines.length > maxLines) {
    const kept = lines.slice(0, maxLines);
    kept[maxLines - 1] = `${kept[maxLines - 1]!.slice(0, width - 2)}..`;
    return kept;
  }
  return lines;
}

/** The hidden cause of an image's verdict, in a few words. */
function cause(task: SuiteTask, img: ImageMeta): string {
  const family = task === 'naturalness' || task === 'technical' || task === 'rationality' ? task : undefined;
  const rel = img.defects.filter((d) => (family ? d.family === family : true));
  const other = family ? img.defects.filter((d) => d.family !== family) : [];
  const fmt = (d: { kind: string; severity: number }) => `${d.kind} ${d.severity.toFixed(2).slice(1)}`;
  switch (task) {
    case 'naturalness':
    case 'technical':
    case 'rationality':
      return `${rel.length ? rel.map(fmt).join(' ') : 'clean'}${other.length ? ` (+${other.map((d) => d.kind).join(' ')})` : ''}`;
    case 'alignment':
    case 'pair-alignment':
      return img.error ?? 'faithful';
    case 'preference':
      return [img.error ?? 'faithful', ...rel.map(fmt)].join(' ');
    case 'safety':
    case 'pair-safety':
      return img.scene.symbol ? img.scene.symbol.kind : 'no sign';
  }
}

/** Short words for label 0 / label 1 of the binary tasks (TASK_INFO has the full wording). */
const VERDICT_WORDS: Partial<Record<SuiteTask, [string, string]>> = {
  naturalness: ['unnatural', 'natural'],
  technical: ['poor quality', 'good quality'],
  rationality: ['implausible', 'plausible'],
  alignment: ['misaligned', 'aligned'],
  preference: ['poor generation', 'good generation'],
  safety: ['unsafe', 'safe'],
};

interface Cell {
  image: RgbImage;
  bar: [number, number, number];
  barText: string;
  info: string;
}

function pickExamples(task: SuiteTask): JudgeExample[] {
  const pairwise = TASK_INFO[task].format === 'pairwise';
  const want = pairwise ? COLS / 2 : COLS;
  const pos: JudgeExample[] = [];
  const neg: JudgeExample[] = [];
  for (const e of generateExamples(task, 'validation', opts, 400)) {
    if (pairwise) {
      pos.push(e);
      if (pos.length >= want) break;
      continue;
    }
    (e.label === 1 ? pos : neg).push(e);
    if (pos.length >= want / 2 && neg.length >= want / 2) break;
  }
  if (pairwise) return pos;
  // Alternate yes / no so every row shows both sides of the criterion.
  const out: JudgeExample[] = [];
  for (let i = 0; i < want / 2; i++) out.push(pos[i]!, neg[i]!);
  return out;
}

function cellsFor(task: SuiteTask, examples: JudgeExample[]): Cell[] {
  const info = TASK_INFO[task];
  const cells: Cell[] = [];
  for (const e of examples) {
    const meta = e.meta as unknown as ExampleMeta;
    if (info.format === 'pairwise') {
      e.images.forEach((image, k) => {
        const better = k === e.label;
        cells.push({ image, bar: better ? GOOD : BAD, barText: better ? `${'AB'[k]} better` : `${'AB'[k]}`, info: cause(task, meta.images[k]!) });
      });
    } else {
      const yes = e.label === 1;
      cells.push({
        image: e.images[0]!,
        bar: yes ? GOOD : BAD,
        barText: `${e.label} ${VERDICT_WORDS[task]?.[yes ? 1 : 0] ?? ''}`,
        info: `${cause(task, meta.images[0]!)}  ${e.score!.toFixed(1)}`,
      });
    }
  }
  return cells;
}

async function writePng(img: RgbImage, file: string): Promise<void> {
  await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png({ compressionLevel: 9 }).toFile(file);
  console.log(`wrote ${path.relative(root, file)} (${img.width}×${img.height})`);
}

async function judgingSheet(): Promise<void> {
  const charsPerCell = Math.floor((CELL + GAP) / GLYPH_ADVANCE);
  const rows = SUITE_TASKS.map((task) => {
    const examples = pickExamples(task);
    const prompts = TASK_INFO[task].hasPrompt ? examples.map((e) => wrap(e.prompt ?? '', TASK_INFO[task].format === 'pairwise' ? charsPerCell * 2 : charsPerCell, 4)) : [];
    const promptLines = Math.max(0, ...prompts.map((p) => p.length));
    return { task, cells: cellsFor(task, examples), prompts, height: CELL + 12 + LINE + promptLines * LINE + GAP * 2 };
  });
  const width = HEADER_W + COLS * (CELL + GAP) + GAP;
  const titleH = 44;
  const height = titleH + rows.reduce((a, r) => a + r.height, 0);
  const sheet: RgbImage = { width, height, data: new Uint8Array(width * height * 3).fill(255) };
  drawText(sheet, `mtrl-judge generated suite - seed ${seed} - ${imageSize}x${imageSize} images shown x${ZOOM}`, GAP, 8, INK, 2);
  drawText(sheet, 'green bar = label 1 (binary) or the better image (pairwise), red = label 0; below: hidden cause and mean rating', GAP, 28, GREY);
  let y = titleH;
  for (const row of rows) {
    fillRect(sheet, 0, y, width, 1, [200, 200, 200]);
    const info = TASK_INFO[row.task];
    drawText(sheet, row.task, GAP, y + GAP, INK, 2);
    drawText(sheet, info.format, GAP, y + GAP + 20, GREY);
    wrap(`mirrors ${info.mirrors}`, Math.floor((HEADER_W - GAP * 2) / GLYPH_ADVANCE), 4).forEach((l, i) => drawText(sheet, l, GAP, y + GAP + 34 + i * LINE, GREY));
    row.cells.forEach((c, i) => {
      const x = HEADER_W + i * (CELL + GAP);
      const iy = y + GAP;
      blit(sheet, upscaleNearest(c.image, ZOOM), x, iy);
      fillRect(sheet, x, iy + CELL, CELL, 12, c.bar);
      drawText(sheet, c.barText.slice(0, Math.floor(CELL / GLYPH_ADVANCE)), x + 2, iy + CELL + 3, WHITE);
      drawText(sheet, c.info.slice(0, charsPerCell), x, iy + CELL + 15, INK);
    });
    row.prompts.forEach((lines, i) => {
      const span = info.format === 'pairwise' ? 2 : 1;
      const x = HEADER_W + i * span * (CELL + GAP);
      lines.forEach((l, k) => drawText(sheet, l, x, y + GAP + CELL + 15 + LINE + k * LINE, GREY));
    });
    y += row.height;
  }
  await writePng(sheet, path.join(outDir, imageSize === 32 ? 'contact-sheet.png' : `contact-sheet-${imageSize}.png`));
}

async function corpusSheet(): Promise<void> {
  const n = 12;
  const cols = 3;
  const colW = CELL * 2 + GAP * 4 + 260;
  const rowH = CELL + GAP * 2 + 2 * LINE;
  const width = cols * colW;
  const height = 44 + Math.ceil(n / cols) * rowH;
  const sheet: RgbImage = { width, height, data: new Uint8Array(width * height * 3).fill(255) };
  drawText(sheet, `base-model corpus - seed ${seed} - captions, vqa, describe-then-answer`, GAP, 12, INK, 2);
  for (let i = 0, shown = 0; shown < n; i++) {
    const it = generateCorpusItem(seed, 'validation', i, imageSize);
    const x = (shown % cols) * colW + GAP;
    const y = 44 + Math.floor(shown / cols) * rowH;
    it.images.forEach((im, k) => blit(sheet, upscaleNearest(im, ZOOM), x + k * (CELL + GAP), y));
    const tx = x + it.images.length * (CELL + GAP);
    const lines = [`${it.kind}${it.question ? `: ${it.question}` : ''}`, `> ${it.answer}`].flatMap((t) => wrap(t, Math.floor((colW - (tx - x) - GAP) / GLYPH_ADVANCE), 7));
    lines.slice(0, 12).forEach((l, k) => drawText(sheet, l, tx, y + k * LINE, k === 0 ? INK : GREY));
    shown++;
  }
  await writePng(sheet, path.join(outDir, 'contact-sheet-corpus.png'));
}

mkdirSync(outDir, { recursive: true });
await judgingSheet();
if (imageSize === 32) await corpusSheet();
