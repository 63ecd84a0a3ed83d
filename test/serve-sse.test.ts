// The token chunks of a streamed completion always join to the completion, even where a token's own
// text is not a prefix of what remains (a piece of a multi-byte character).
import { describe, expect, it } from 'vitest';
import { chatCompletionChunks, textChunks } from '../lib/serve/sse.js';

describe('textChunks', () => {
  it('one chunk per token where pieces line up', () => {
    expect(textChunks('<think>a</think>', ['<think>', 'a', '</think>'])).toEqual([
      { text: '<think>', tokens: [0] },
      { text: 'a', tokens: [1] },
      { text: '</think>', tokens: [2] },
    ]);
  });
  it('joins pieces that only spell the text together, and keeps the rest', () => {
    // "é" split into two byte tokens, each decoding to U+FFFD on its own.
    const c = textChunks('xé!', ['x', '\uFFFD', '\uFFFD', '!']);
    expect(c.map((x) => x.text).join('')).toBe('xé!');
    expect(c[0]).toEqual({ text: 'x', tokens: [0] });
    expect(c.flatMap((x) => x.tokens)).toEqual([0, 1, 2, 3]);
    expect(textChunks('', [])).toEqual([]);
    expect(textChunks('ab', ['a', 'b', ''])).toEqual([
      { text: 'a', tokens: [0] },
      { text: 'b', tokens: [1, 2] },
    ]);
  });
  it('chunks name their choice, start with the role and end with finish_reason', () => {
    const ev = chatCompletionChunks({
      id: 'c1',
      created: 1,
      model: 'm',
      logprobs: false,
      choices: [{ raw: 'yes', pieces: ['ye', 's'], logprobs: [-1, -2], finishReason: 'stop', judgment: { verdict: 'yes' } }],
    }) as Array<{ choices: Array<Record<string, unknown>> }>;
    expect(ev.map((e) => e.choices[0]!.delta)).toEqual([{ role: 'assistant', content: '' }, { content: 'ye' }, { content: 's' }, {}]);
    expect(ev.at(-1)!.choices[0]).toMatchObject({ index: 0, finish_reason: 'stop', judgment: { verdict: 'yes' } });
  });
});
