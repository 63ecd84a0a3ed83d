// `mtrl-judge judge`: judge image files from the command line.
import { decodeImage } from '../data/images.js';
import { parseDevice } from '../device.js';
import { JudgeEngine } from '../judge/engine.js';

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
  if (files.length === 0) throw new TypeError('judge: pass --image <file> (or --images <a> <b> for pairwise tasks)');
  const engine = JudgeEngine.load(o.checkpoint, { device: parseDevice(o.device, '--device'), temperature: o.temperature });
  const size = engine.model.config.imageSize;
  const images = await Promise.all(
    files.map(async (f) => {
      try {
        return await decodeImage(f, { width: size, height: size });
      } catch (e) {
        throw new TypeError(`judge: cannot read image ${f}: ${(e as Error).message}`);
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
