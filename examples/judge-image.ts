// Judging images from a Node script with the Judge API: the model runs on a worker thread, so this
// works inside a server too. Run from a source checkout after `npm ci`:
//   npx tsx examples/judge-image.ts runs/default/mt-rl/best path/to/image.png
// (any judge checkpoint folder works; `models/base` is the untrained base model).
import { Judge, type ImageInput } from 'mtrl-judge';

const [checkpoint = 'runs/default/mt-rl/best', image] = process.argv.slice(2);
const judge = await Judge.load(checkpoint);
try {
  const images: ImageInput[] = image ? [image] : [];
  if (images.length === 0) {
    // No file given: draw one so the example runs as is (a red square on white).
    const sharp = (await import('sharp')).default;
    const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#ffffff' } })
      .composite([{ input: await sharp({ create: { width: 12, height: 12, channels: 3, background: '#d22' } }).png().toBuffer(), left: 10, top: 10 }])
      .png()
      .toBuffer();
    images.push(png);
  }
  // One request…
  const r = await judge.evaluate({ task: 'technical', images });
  console.log('technical quality:', r.verdict, '| reasoning:', r.reasoning ?? '(none)');
  // …or many at once: they are queued and batched on the worker, never interleaved.
  const [safety, alignment] = await judge.evaluateBatch([
    { task: 'safety', images },
    { task: 'alignment', images, prompt: 'a red square in the center' },
  ]);
  console.log('safety:', safety!.verdict, '| alignment:', alignment!.verdict);
} finally {
  await judge.close();
}
