// A stand-in for the Anthropic Messages API at the true edge of the system: it speaks the wire format the
// worker's client sends and reads (tool-forced `tool_use` answers with `usage`), and keeps its own tally of
// the tokens it reported so the test can compare the viewer's numbers with an independent count.
import http from 'node:http';

export const USAGE = { input_tokens: 1200, output_tokens: 150, cache_creation_input_tokens: 0, cache_read_input_tokens: 900 };

export async function startMockAnthropic() {
  const tally = { calls: 0, input_tokens: 0, output_tokens: 0, cache_write_tokens: 0, cache_read_tokens: 0, requests: [] };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url.startsWith('/v1/messages')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: req.url } }));
        return;
      }
      const request = JSON.parse(body);
      tally.requests.push({ headers: req.headers, body: request });
      const tool = request.tool_choice?.name ?? request.tools?.[0]?.name;
      const text = JSON.stringify(request.messages ?? []);
      const ids = [...text.matchAll(/<event id=\\?"?(\d+)/g)].map((m) => Number(m[1]));
      const input =
        tool === 'record_observations'
          ? {
              observations: ids.length
                ? [{ type: 'feature', title: `Mock LLM observation of ${ids.length} event(s)`, narrative: 'Written by the mock Anthropic API.', facts: ['mocked'], files_modified: [], source_event_ids: ids }]
                : [],
            }
          : { request: 'Mock request', investigated: '', learned: 'Mock learning', completed: 'Mock completion', next_steps: '' };
      tally.calls += 1;
      tally.input_tokens += USAGE.input_tokens;
      tally.output_tokens += USAGE.output_tokens;
      tally.cache_write_tokens += USAGE.cache_creation_input_tokens;
      tally.cache_read_tokens += USAGE.cache_read_input_tokens;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `msg_mock_${tally.calls}`,
          type: 'message',
          role: 'assistant',
          model: request.model,
          content: [{ type: 'tool_use', id: `toolu_mock_${tally.calls}`, name: tool, input }],
          stop_reason: 'tool_use',
          stop_sequence: null,
          usage: USAGE,
        }),
      );
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, tally, close: () => new Promise((r) => server.close(r)) };
}
