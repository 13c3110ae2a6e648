// Parses every ```mermaid block of the Markdown files named on the command line with the real
// Mermaid parser (mermaid.parse under a jsdom window), so a diagram GitHub cannot render fails CI.
//   node tools/check_mermaid.mjs README.md docs/*.md
// Prints one line per failing block (file:line: error) and how many blocks it checked; exits 1
// if any block fails or a file cannot be read, 0 otherwise.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const { window } = new JSDOM("<!DOCTYPE html><html><body></body></html>", { pretendToBeVisual: true });
// mermaid's DOMPurify needs a window at import time (without one, every parse fails with
// "DOMPurify.addHook is not a function"); window and document are all that parse() reads.
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

// A block opens on a line that is exactly ```mermaid (leading spaces allowed) and closes on the
// next line that is ``` alone; `line` is the 1-based line of the opening fence.
function mermaidBlocks(text) {
  const lines = text.split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== "```mermaid") continue;
    const start = i;
    const body = [];
    for (i++; i < lines.length && lines[i].trim() !== "```"; i++) body.push(lines[i]);
    blocks.push({ line: start + 1, text: body.join("\n"), closed: i < lines.length });
  }
  return blocks;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node tools/check_mermaid.mjs FILE.md...");
  process.exit(2);
}
let checked = 0;
let failed = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    console.log(`${file}: cannot read: ${err.message}`);
    failed++;
    continue;
  }
  for (const block of mermaidBlocks(text)) {
    checked++;
    if (!block.closed) {
      console.log(`${file}:${block.line}: mermaid block is never closed`);
      failed++;
      continue;
    }
    try {
      await mermaid.parse(block.text);
    } catch (err) {
      const message = String(err?.message ?? err).replace(/\s+/g, " ").trim();
      console.log(`${file}:${block.line}: ${message}`);
      failed++;
    }
  }
}
console.log(`checked ${checked} mermaid blocks in ${files.length} files: ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
