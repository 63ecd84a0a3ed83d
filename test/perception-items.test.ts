// The perception stage's questions (lib/data/perception.ts): every answer follows from the drawn
// scene, negatives are hard (one attribute away from something drawn), and yes/no and A/B are balanced.
import { describe, expect, it } from 'vitest';
import { noteMatch, noteObjects, pairPerception, singlePerception, type PerceptionQa } from '../lib/data/perception.js';
import { sceneMatches } from '../lib/data/prompts.js';
import { Rng } from '../lib/rng.js';

const rng = Rng.from(7, 'perception-test');
const single: PerceptionQa[] = Array.from({ length: 600 }, () => singlePerception(rng, 32));
const pairs: PerceptionQa[] = [];
while (pairs.length < 300) {
  const p = pairPerception(rng, 32);
  if (p) pairs.push(p);
}

describe('perception items', () => {
  it('answer "Is there a …?" from the drawn objects, with hard negatives, yes half the time', () => {
    const spot = single.filter((q) => q.kind === 'spot');
    expect(spot.length).toBeGreaterThan(120);
    let hard = 0;
    for (const q of spot) {
      const objs = q.scenes[0]!.objects;
      const present = objs.some((o) => o.shape === q.asked!.shape && o.colour === q.asked!.colour);
      expect(q.answer, q.question).toBe(present ? 'yes' : 'no');
      expect(q.question).toContain(`${q.asked!.colour} ${q.asked!.shape}`);
      if (!present && objs.some((o) => o.shape === q.asked!.shape || o.colour === q.asked!.colour)) hard++;
    }
    const no = spot.filter((q) => q.answer === 'no').length;
    expect(Math.abs(no / spot.length - 0.5), `no share ${(no / spot.length).toFixed(3)}`).toBeLessThan(0.1);
    expect(hard, `hard negatives ${hard} of ${no}`).toBe(no);
  });

  it('answer "Is the … at …?" from the drawn region', () => {
    const place = single.filter((q) => q.kind === 'place');
    expect(place.length).toBeGreaterThan(100);
    for (const q of place) {
      const o = q.scenes[0]!.objects.find((p) => p.shape === q.asked!.shape && p.colour === q.asked!.colour)!;
      expect(q.answer, q.question).toBe(o.region === q.asked!.region ? 'yes' : 'no');
    }
    const yes = place.filter((q) => q.answer === 'yes').length / place.length;
    expect(Math.abs(yes - 0.5)).toBeLessThan(0.12);
  });

  it('name shapes, places and counts as drawn, and note every object before answering', () => {
    for (const q of single) {
      const objs = q.scenes[0]!.objects;
      expect(q.looking).toBe(`I see ${noteObjects(q.scenes[0]!)}.`);
      if (q.kind === 'count') expect(q.answer).toBe(['no objects', 'one object', 'two objects', 'three objects'][objs.length]);
      if (q.kind === 'shape-of') {
        const colour = /the (\w+) object/.exec(q.question)![1];
        expect(objs.filter((o) => o.colour === colour).map((o) => o.shape)).toEqual([q.answer]);
      }
      if (q.kind === 'where') {
        const [, colour, shape] = /the (\w+) (\w+)\?/.exec(q.question)!;
        const o = objs.find((p) => p.colour === colour && p.shape === shape)!;
        // "top left corner", "upper left", "left side"… all name the object's region.
        const words = o.region.split(' ');
        expect(words.every((w) => q.answer.includes(w) || (w === 'top' && q.answer.includes('upper')) || (w === 'bottom' && q.answer.includes('lower')) || (w === 'center' && q.answer === 'middle')), `${o.region} vs ${q.answer}`).toBe(true);
      }
    }
  });

  it('pair one faithful picture with one that differs by a single change, A and B equally often', () => {
    for (const q of pairs) {
      const k = q.truth!;
      expect(q.answer).toBe(k === 0 ? 'A' : 'B');
      expect(sceneMatches(q.intent!, q.scenes[k]!), q.question).toBe(true);
      expect(sceneMatches(q.intent!, q.scenes[1 - k]!), q.question).toBe(false);
      expect(q.looking).toBe(`A: ${noteObjects(q.scenes[0]!)}. B: ${noteObjects(q.scenes[1]!)}.`);
      expect(q.images).toHaveLength(2);
    }
    const a = pairs.filter((q) => q.answer === 'A').length / pairs.length;
    expect(Math.abs(a - 0.5), `A share ${a.toFixed(3)}`).toBeLessThan(0.08);
    // Every kind of change occurs, and each is what tells the two pictures apart.
    expect(new Set(pairs.map((q) => q.change)).size).toBe(6);
  });

  it('with marks, end each picture\'s notes with whether it fits, the same pair otherwise', () => {
    const r1 = Rng.from(11, 'marks');
    const r2 = Rng.from(11, 'marks');
    for (let i = 0; i < 100; i++) {
      const plain = pairPerception(r1, 32);
      const marked = pairPerception(r2, 32, { marks: true });
      if (!plain) {
        expect(marked).toBeUndefined();
        continue;
      }
      const [ma, mb] = marked!.truth === 0 ? ['yes', 'no'] : ['no', 'yes'];
      expect(marked!.looking).toBe(`A: ${noteObjects(plain.scenes[0]!)}: ${ma}. B: ${noteObjects(plain.scenes[1]!)}: ${mb}.`);
      expect(marked!.question).toBe(plain.question);
    }
  });

  it('note matching: "yes" exactly when the noted scene is the described one', () => {
    const r = Rng.from(12, 'notes');
    for (let i = 0; i < 300; i++) {
      const q = noteMatch(r, 32);
      expect(q.question).toContain(noteObjects(q.scenes[0]!));
      expect(q.answer, q.question).toBe(sceneMatches(q.intent!, q.scenes[0]!) ? 'yes' : 'no');
      expect(q.images).toHaveLength(1);
    }
  });
});
