import { test } from 'node:test';
import assert from 'node:assert/strict';
import { embedJson, escapeHtml, renderPage } from './page.ts';

test('embedded data cannot close its script block', () => {
  const json = embedJson({ evil: '</script><script>alert(1)</script><!--' });
  assert.ok(!json.includes('</script'));
  assert.ok(!json.includes('<!--'));
  assert.deepEqual(JSON.parse(json), { evil: '</script><script>alert(1)</script><!--' });
});

test('escapeHtml escapes markup characters', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('a page inlines uPlot and needs no network', () => {
  const html = renderPage({ title: 't<1>', body: '<p>hi</p>', data: { a: 1 }, script: 'window.x = 1;' });
  assert.match(html, /<title>t&lt;1&gt;<\/title>/);
  assert.ok(html.includes('uPlot'), 'uPlot JS inlined');
  assert.ok(html.includes('.uplot'), 'uPlot CSS inlined');
  assert.ok(!/\b(src|href)=["']?https?:/i.test(html), 'no external resources');
  assert.ok(html.includes('{"a":1}'));
});

test('a page without charts omits uPlot', () => {
  const html = renderPage({ title: 't', body: '', charts: false });
  assert.ok(!html.includes('uPlot'));
});
