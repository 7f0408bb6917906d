// Reads one Mermaid picture on standard input and parses it with Mermaid itself (the
// library GitHub and most Markdown renderers draw with): exit 0 when it parses, else the
// parser's error on standard error and exit 1. Mermaid sanitises labels with DOMPurify,
// which needs a DOM: jsdom gives it one, as a browser would.
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const text = Buffer.concat(chunks).toString('utf8');
try {
  const parsed = await mermaid.parse(text);
  if (!parsed) throw new Error('not a Mermaid diagram');
  process.stdout.write(`${parsed.diagramType}\n`);
} catch (error) {
  process.stderr.write(`${error.message ?? error}\n`);
  process.exit(1);
}
