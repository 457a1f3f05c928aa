// Knowledge-base Markdown to DOM nodes, safely: every piece of text enters the page through text nodes
// (never parsed as markup), links only to http(s) or the page's own relative URLs. A small subset on purpose —
// headings, paragraphs, lists, code blocks, **bold**, *italic*, `code` and [links](url) — is what the
// articles use; anything else shows as the text it is.

export function render(markdown) {
  const root = document.createDocumentFragment();
  const lines = String(markdown || "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i++; continue; }
    if (line.startsWith("```")) {
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      i++;
      const pre = document.createElement("pre");
      pre.append(el("code", code.join("\n")));
      root.append(pre);
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      const level = Math.min(6, heading[1].length + 1);  // the article's title is the page's h1
      root.append(inline(document.createElement(`h${level}`), heading[2]));
      i++;
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+/;
    if (item.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = document.createElement(ordered ? "ol" : "ul");
      for (; i < lines.length && item.test(lines[i]); i++) list.append(inline(document.createElement("li"), lines[i].replace(item, "")));
      root.append(list);
      continue;
    }
    const paragraph = [];
    for (; i < lines.length && lines[i].trim() && !item.test(lines[i]) && !/^(#{1,6}\s|```)/.test(lines[i]); i++) paragraph.push(lines[i].trim());
    root.append(inline(document.createElement("p"), paragraph.join(" ")));
  }
  return root;
}

const INLINE = /(\*\*([^*]+)\*\*|\*([^*]+)\*|_([^_]+)_|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\))/;

function inline(parent, text) {
  let rest = text;
  while (rest) {
    const match = rest.match(INLINE);
    if (!match) { parent.append(rest); break; }
    parent.append(rest.slice(0, match.index));
    if (match[2] !== undefined) parent.append(el("strong", match[2]));
    else if (match[3] !== undefined || match[4] !== undefined) parent.append(el("em", match[3] ?? match[4]));
    else if (match[5] !== undefined) parent.append(el("code", match[5]));
    else parent.append(link(match[6], match[7]));
    rest = rest.slice(match.index + match[0].length);
  }
  return parent;
}

function link(text, href) {
  let url;
  try { url = new URL(href, document.baseURI); } catch { return document.createTextNode(text); }
  if (url.protocol !== "https:" && url.protocol !== "http:") return document.createTextNode(text);
  const a = el("a", text);
  a.href = url.href;
  if (url.origin !== location.origin) a.rel = "noopener noreferrer";
  return a;
}

function el(tag, text) {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}
