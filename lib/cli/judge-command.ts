// `mtrl-judge judge`: judge image files from the command line.
import { decodeImage } from '../data/images.js';
import { JudgeEngine } from '../judge/engine.js';
import { TaskRegistry } from '../tasks/registry.js';
import { checkpointFor, CliError } from './errors.js';
import { cliDevice } from './resolve.js';

export interface JudgeFlags {
  checkpoint: string;
  task: string;
  image?: string;
  images?: string[];
  prompt?: string;
  temperature: number;
  json?: boolean;
  device: string;
}

export async function judgeCommand(o: JudgeFlags): Promise<void> {
  const files = o.images ?? (o.image ? [o.image] : []);
  // Check the request against the task before loading anything, naming the flags to fix.
  const registry = new TaskRegistry();
  if (!registry.has(o.task)) throw new CliError('--task', `unknown task "${o.task}"`, `use one of ${registry.names().join(', ')}`);
  const task = registry.get(o.task);
  const imageFlag = task.numImages === 1 ? '--image' : '--images';
  if (files.length !== task.numImages) {
    const how = task.numImages === 1 ? 'pass --image <file>' : `pass --images ${Array.from({ length: task.numImages }, (_, i) => String.fromCharCode(97 + i) + '.png').join(' ')}`;
    throw new CliError(imageFlag, `task "${task.name}" needs ${task.numImages} image(s), got ${files.length}`, how);
  }
  if (task.definition.question.includes('{prompt}') && !o.prompt)
    throw new CliError('--prompt', `task "${task.name}" judges an image against a text-to-image prompt, and none was given`, 'add --prompt "the prompt the image was generated from"');
  if (o.temperature < 0) throw new CliError('--temperature', `must be ≥ 0, got ${o.temperature}`, 'use 0 for greedy judging');
  const device = cliDevice(o.device, '--device', o.json ? () => {} : undefined);
  const engine = checkpointFor('--checkpoint', o.checkpoint, 'pass the folder of a trained judge, e.g. runs/default/mt-rl/best', () =>
    JudgeEngine.load(o.checkpoint, { device, temperature: o.temperature }),
  );
  const size = engine.model.config.imageSize;
  const images = await Promise.all(
    files.map(async (f) => {
      try {
        return await decodeImage(f, { width: size, height: size });
      } catch (e) {
        throw new CliError(imageFlag, `cannot read image ${f}: ${(e as Error).message}`, 'pass a PNG, JPEG or WebP file', { exitCode: 1 });
      }
    }),
  );
  const [r] = engine.run([{ task: o.task, images, ...(o.prompt !== undefined ? { prompt: o.prompt } : {}) }]);
  engine.dispose();
  if (o.json) {
    console.log(JSON.stringify({ task: o.task, images: files, ...r }, null, 2));
    return;
  }
  console.log(`task:      ${o.task}`);
  console.log(`images:    ${files.join(', ')}`);
  if (o.prompt) console.log(`prompt:    ${o.prompt}`);
  console.log(`reasoning: ${r!.reasoning ?? '(none)'}`);
  console.log(`verdict:   ${r!.verdict ?? '(no parsable verdict)'}${r!.formatOk ? '' : '  [output not in the <think>…</think><answer>…</answer> format]'}`);
}
